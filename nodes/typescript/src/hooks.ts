// Test-only instrumentation of the reference node (backend/), kept out of the README: a node
// that misbehaves on purpose, and per-id execution counts, so the gateway's fault handling can be
// tested against the same connection code users run.

/** What a test can make the node's stream side do wrong. */
export interface StreamFaults {
  /** Delay before each ack (the function starts after its ack), in ms. */
  ackDelayMs?: number;
  /** Delay between a function finishing and its result or error being sent, in ms. */
  resultDelayMs?: number;
  /** Do not answer pings (everything else still flows). */
  ignorePings?: boolean;
  /** Send nothing at all: no pongs, acks, results or errors; functions still run. */
  silent?: boolean;
  /** A one-off misbehaviour when the nth invocation (1-based, counted from setFaults) arrives. */
  onInvoke?: { nth: number; action: FaultAction };
}

/**
 * close-before-ack: close the stream (1011) instead of acking; the function never runs.
 * close-after-ack: ack, start the function, then close the stream (1011) before its result.
 * malformed: answer with a frame of a bad version instead of an ack; nothing runs.
 * text: answer with a text message instead of an ack; nothing runs.
 * unknown-id: send an ack for an id never used, then handle the invocation normally.
 * goaway: send goaway first; this and later invocations on the stream are rejected.
 */
export type FaultAction =
  | "close-before-ack"
  | "close-after-ack"
  | "malformed"
  | "text"
  | "unknown-id"
  | "goaway";

/** Internal option of attachNode: fault injection and execution counting. */
export interface NodeHooks {
  /** Current faults, read as invocations and pings arrive. */
  faults(): StreamFaults;
  /** Counts an arriving invocation and returns its ordinal since the faults were last set. */
  nextOrdinal(): number;
  /** A function starts for invocation `id`. */
  started(id: number): void;
}

/** No faults: what a node without hooks reads. */
export const NO_FAULTS: StreamFaults = Object.freeze({});
