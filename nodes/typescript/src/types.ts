/** One invocation as a function sees it. */
export interface FunctionRequest {
  /** Invocation id, unique on its stream. */
  readonly id: number;
  /** The function's name, or undefined when the default function runs. */
  readonly function: string | undefined;
  /** Request body as sent by the gateway. */
  readonly body: Uint8Array;
  /** Media type the gateway sent with the body; "" when unknown. */
  readonly contentType: string;
  /** Fires when the answer is no longer wanted: the stream closed, or the function timed out. */
  readonly signal: AbortSignal;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON; throws on invalid JSON. */
  json(): unknown;
}

/** A full answer; fields left out get defaults (status 200, content-type from the body). */
export interface FunctionResponse {
  /** HTTP-style status, 200..599. */
  status: number;
  /** Media type of the body. */
  contentType?: string;
  /** string (text), Uint8Array (bytes), or anything else (JSON). */
  body?: unknown;
}

/**
 * A function: returns a string, a Uint8Array, a FunctionResponse, any other JSON-able value or
 * nothing (possibly through a promise); throwing sends an error frame with the message.
 */
export type Handler = (request: FunctionRequest) => unknown;

/** A function with per-function settings. */
export interface FunctionSpec {
  /** What runs. */
  handler: Handler;
  /** Safe to run twice: its acks carry `retryable`, so a loss after the ack is retried elsewhere. */
  idempotent?: boolean;
  /** Larger bodies are answered 413 without running the function. */
  maxBodyBytes?: number;
  /** Longer runs have their signal aborted and are answered 504. */
  timeoutMs?: number;
}

/** Options shared by {@link serve} and {@link attachNode}. */
export interface NodeOptions {
  /** Named functions: a handler, or a FunctionSpec. */
  functions?: Record<string, Handler | FunctionSpec>;
  /** The function unnamed invocations run; without one they are answered 404. */
  default?: Handler | FunctionSpec;
  /** Functions running at once; further invocations wait unacked. Default 64. */
  concurrency?: number;
  /** Largest frame payload accepted or sent; must match the gateway's. Default 1 MiB. */
  maxPayload?: number;
  /** How long close() waits for acked invocations. Default 30 s. */
  graceMs?: number;
  /** Upgrade path of the stream. Default /_roundhouse/stream. */
  path?: string;
  /** How often the node pings the gateway; 0 never. Default 5 s. */
  pingIntervalMs?: number;
  /** Silence after which the node closes a stream with 4003; 0 never. Default 15 s. */
  heartbeatTimeoutMs?: number;
  /** Diagnostic sink. Default console.warn. */
  log?: (message: string) => void;
}

/** Options of {@link serve}. */
export interface ServeOptions extends NodeOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Drain on SIGTERM and SIGINT. Default true. */
  handleSignals?: boolean;
}

/** Totals kept across all of a node's streams. */
export interface NodeStats {
  /** Streams accepted. */
  connections: number;
  /** Streams currently open. */
  open: number;
  /** Invoke frames received. */
  invocations: number;
  /** Acks sent (or, when silent, due). */
  acked: number;
  /** Invocations received and not yet acked (waiting for a free slot). */
  awaitingAck: number;
  /** Highest `awaitingAck` seen. */
  peakAwaitingAck: number;
  /** Invocations rejected because the node was draining. */
  rejected: number;
  /** Result frames due. */
  results: number;
  /** Function failures reported. */
  errors: number;
  /** Functions currently running. */
  running: number;
  /** Highest `running` seen. */
  peakRunning: number;
  /** Pings received. */
  pings: number;
  /** Goaways sent. */
  goaways: number;
  /** Streams closed for a protocol error by the gateway. */
  protocolErrors: number;
  /** Invocations whose abort signal fired. */
  aborted: number;
  /** Streams closed for heartbeat silence. */
  heartbeatTimeouts: number;
}

/** A node attached to an http.Server. */
export interface AttachedNode {
  /** A snapshot of the totals. */
  stats(): NodeStats;
  /** Whether close() has begun: health answers 503. */
  readonly draining: boolean;
  /** Drains: goaway on every stream, waits for acked invocations (up to graceMs), closes 1000. */
  close(): Promise<void>;
  /** Closes every stream at once with `code` (default 1001), without draining. */
  abort(code?: number, reason?: string): Promise<void>;
}

/** A node started by {@link serve}. */
export interface ServedNode extends AttachedNode {
  /** The bound port. */
  readonly port: number;
  /** ws:// URL of the stream endpoint. */
  readonly url: string;
}
