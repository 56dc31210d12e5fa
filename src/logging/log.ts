import type { LoggingSettings } from "../config/logging-schema.ts";

/** Severity of a line, least first. */
export type Level = LoggingSettings["level"];

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

const DEFAULTS: LoggingSettings = { level: "info", requestSampleRate: 0.01 };

/** A state change worth one line: what changed, for which service and node, and why. */
export interface StateChange {
  readonly event:
    | "ejection"
    | "readmission"
    | "health-change"
    | "discovery-change"
    | "drain"
    | "weight"
    | "peer-failure";
  readonly service?: string;
  readonly node?: string;
  readonly reason: string;
  readonly [field: string]: unknown;
}

/**
 * Work that failed off the request path (a refresh, a lease, a shipment, a sync round), worth one
 * line: what failed, for which service and node, and the error's own words.
 */
export interface Fault {
  readonly event:
    | "discovery-failure"
    | "refresh-failure"
    | "readmission-failure"
    | "ejection-failure"
    | "lease-failure"
    | "membership-failure"
    | "metrics-failure"
    | "sync-failure"
    | "stream"
    | "config-invalid"
    | "dashboard-failure"
    | "unhandled";
  readonly service?: string;
  readonly node?: string;
  readonly reason: string;
  readonly [field: string]: unknown;
}

/** One proxied request or invocation, as its line reports it. */
export interface RequestLine {
  readonly kind: "request" | "invocation";
  readonly requestId: string;
  readonly service: string;
  readonly node: string | null;
  readonly attempts: number;
  readonly status: number;
  /** Time until the answer's headers, in ms. */
  readonly ms: number;
  /** answered: a node's answer passed on; otherwise the problem type the gateway answered with. */
  readonly outcome: string;
  /** The runtime's own words for the last attempt's failure, kept out of the client's answer. */
  readonly cause?: string;
}

/**
 * Writes JSON lines by the configured level and sample rate. Console output is what Workers Logs
 * collects (`[observability]` in wrangler.toml); one JSON object per line keeps every field
 * queryable there.
 */
export class Log {
  readonly #settings: LoggingSettings;
  readonly #random: () => number;

  constructor(settings: LoggingSettings = DEFAULTS, random: () => number = Math.random) {
    this.#settings = settings;
    this.#random = random;
  }

  /** A state change, at info (warn for a peer's failure). */
  change(change: StateChange): void {
    this.#write(change.event === "peer-failure" ? "warn" : "info", change);
  }

  /** A fault: at warn when the work is retried or falls back, at error when it is lost. */
  fault(level: "warn" | "error", fault: Fault): void {
    this.#write(level, fault);
  }

  /**
   * A request's line. One that did not simply succeed (`notable`: retried, hedged, failed, or
   * answered by the gateway itself) is always written; a plain success only when the sample
   * draws it. The line is built only when it will be written, so a skipped success costs a draw.
   */
  request(notable: boolean, line: () => RequestLine): void {
    if (RANK.info < RANK[this.#settings.level]) return;
    if (!notable && this.#random() >= this.#settings.requestSampleRate) return;
    this.#write("info", line());
  }

  #write(level: Level, fields: object): void {
    if (RANK[level] < RANK[this.#settings.level]) return;
    const line = JSON.stringify({ level, at: new Date().toISOString(), ...fields });
    if (level === "warn") console.warn(line);
    else if (level === "error") console.error(line);
    else console.log(line);
  }
}
