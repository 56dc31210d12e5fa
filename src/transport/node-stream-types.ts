import type { BackoffOptions } from "./backoff.ts";
import type { Metrics } from "./metrics.ts";
import type { Connect } from "./socket.ts";
import type { LinkState } from "./stream-state.ts";

/** One line of the stream's diagnostic log. */
export interface StreamLogEntry {
  /** warn for anything that closed a stream abnormally; info for the rest. */
  level: "info" | "warn";
  /** What happened. */
  message: string;
  /** Socket generation it happened on. */
  generation: number;
}

/** Options of a {@link NodeStream}. */
export interface NodeStreamOptions {
  /** Opens a socket to the node, e.g. with connectWebSocket or connectWorkersSocket. */
  connect: Connect;
  /** Invocations that may wait unsent before callers have to wait for room; default 1024. */
  queueCapacity?: number;
  /** Invocations that may be on the wire un-acked; default 256. */
  window?: number;
  /** Largest payload sent or accepted; default 1 MiB, must match the node's. */
  maxPayload?: number;
  /** Ms between pings; default 5000. */
  pingIntervalMs?: number;
  /** Ms without any frame after which the stream is dead; default 15000. */
  heartbeatTimeoutMs?: number;
  /** Ms a connect attempt may take; default 5000. */
  connectTimeoutMs?: number;
  /** Reconnect delays; default 50 ms doubling up to 5 s, with jitter. */
  backoff?: BackoffOptions;
  /** Diagnostic sink; by default none. */
  log?: (entry: StreamLogEntry) => void;
}

/** The body handed to the node's function. */
export interface InvokePayload {
  /** Request body; copied into the frame, so the caller may reuse it afterwards. */
  body: Uint8Array;
  /** Printable-ASCII media type; "" (the default) when unknown. */
  contentType?: string;
  /** The node's function to run, by name; absent for the node's default function. */
  function?: string | undefined;
}

/** Per-invocation options. */
export interface InvokeOptions {
  /** Ms from now until the invocation fails, whatever phase it is in. */
  deadlineMs: number;
  /** Aborting fails the invocation with AbortedError. */
  signal?: AbortSignal;
  /** Runs when the node acks: the handshake is over and the invocation may run. */
  onAck?: () => void;
}

/** A snapshot of a stream's counters and gauges. */
export interface StreamStats extends Metrics {
  /** State of the socket that takes new invocations ("connecting" while backing off). */
  state: LinkState;
  /** Socket generations started so far. */
  generation: number;
  /** Invocations queued and not yet written. */
  queueDepth: number;
  /** Callers waiting for room in the full queue. */
  waiting: number;
  /** Invocations written whose result is still owed (old generations included). */
  inFlight: number;
  /** Invocations written and not yet acked. */
  unacked: number;
  /** Old sockets that received goaway and are finishing their acked invocations. */
  draining: number;
}
