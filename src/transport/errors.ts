/** How far an invocation got before it failed. */
export type CallPhase = "waiting" | "queued" | "sent" | "acked";

/** Base of the typed failures of NodeStream.invoke. */
export class InvokeError extends Error {
  override name = "InvokeError";
  /** Whether the node may have started the function; if false, retrying elsewhere is safe. */
  readonly mayHaveRun: boolean;

  constructor(message: string, mayHaveRun: boolean, options?: ErrorOptions) {
    super(message, options);
    this.mayHaveRun = mayHaveRun;
  }
}

/** The send queue stayed full until the caller's deadline; nothing was sent. */
export class BusyError extends InvokeError {
  override name = "BusyError";
  /** Estimated ms until the queue has room again. */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number) {
    super(`send queue full; retry after ${retryAfterMs} ms`, false);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The node never acknowledged the invocation (stream lost, never sent, or rejected): it did not run. */
export class NotAckedError extends InvokeError {
  override name = "NotAckedError";
  /** True when the node explicitly refused it (error frame "rejected"), e.g. while draining. */
  readonly rejected: boolean;

  constructor(reason: string, rejected = false) {
    super(`not acknowledged by the node: ${reason}`, false);
    this.rejected = rejected;
  }
}

/**
 * The stream was lost after the node acknowledged: it may have run, so it is run again only if
 * the node's ack declared the function idempotent (`retryable`).
 */
export class LostAfterAckError extends InvokeError {
  override name = "LostAfterAckError";
  /** The node's ack carried the `retryable` flag: running it again elsewhere is allowed. */
  readonly retryable: boolean;

  constructor(reason: string, retryable = false) {
    super(`stream lost after the node acknowledged: ${reason}`, true);
    this.retryable = retryable;
  }
}

/** The node ran the function and reported a failure (the gateway answers 502). */
export class FunctionError extends InvokeError {
  override name = "FunctionError";
  /** The node's message, e.g. what the function threw. */
  readonly nodeMessage: string;

  constructor(nodeMessage: string) {
    super(`function failed on the node: ${nodeMessage}`, true);
    this.nodeMessage = nodeMessage;
  }
}

/** The caller's deadline passed; `phase` says how far the invocation had got. */
export class DeadlineError extends InvokeError {
  override name = "DeadlineError";
  /** Phase the invocation was in when the deadline passed. */
  readonly phase: CallPhase;

  constructor(phase: CallPhase) {
    super(`deadline exceeded while ${phase}`, phase === "sent" || phase === "acked");
    this.phase = phase;
  }
}

/** The caller's signal aborted; `phase` says how far the invocation had got. */
export class AbortedError extends InvokeError {
  override name = "AbortedError";
  /** Phase the invocation was in when the signal fired. */
  readonly phase: CallPhase;

  constructor(phase: CallPhase, reason: unknown) {
    super(`aborted while ${phase}`, phase === "sent" || phase === "acked", { cause: reason });
    this.phase = phase;
  }
}
