import type { Link } from "./link.ts";
import type { Metrics } from "./metrics.ts";

/** Why a link closed. */
export interface CloseCause {
  /** WebSocket close code: sent by us, or received from the node. */
  code: number;
  /** Human-readable reason, for logs and for the errors of failed invocations. */
  reason: string;
  /** Whether the gateway side ended it (and so closes the socket itself). */
  local: boolean;
  /** Whether the socket never opened. */
  connectFailed: boolean;
}

/** Timing and size limits a link works with. */
export interface LinkSettings {
  /** Largest payload accepted from the node. */
  maxPayload: number;
  /** Ms between pings. */
  pingIntervalMs: number;
  /** Ms without any frame from the node after which the stream is dead. */
  heartbeatTimeoutMs: number;
  /** Ms a connect attempt may take. */
  connectTimeoutMs: number;
}

/** What a link reports to the NodeStream that owns it. */
export interface LinkHost {
  readonly metrics: Metrics;
  readonly settings: LinkSettings;
  log(level: "info" | "warn", message: string, link: Link): void;
  /** The link can take invocations. */
  linkOpened(link: Link): void;
  /** An un-acked slot of the window was freed. */
  windowFreed(link: Link): void;
  /** The node sent goaway: new work must go elsewhere. */
  linkDraining(link: Link): void;
  /** The link is finished; its invocations have been failed already. */
  linkClosed(link: Link, cause: CloseCause): void;
}

/** A close of the gateway's own making (local), or the node's. */
export function closeCause(
  code: number,
  reason: string,
  options: { local?: boolean; connectFailed?: boolean } = {},
): CloseCause {
  return {
    code,
    reason,
    local: options.local ?? true,
    connectFailed: options.connectFailed ?? false,
  };
}
