import type { CallPhase } from "./errors.ts";

/** What the node's function answered. */
export interface InvokeResult {
  /** HTTP-style status, 200..599. */
  status: number;
  /** Media type of the body; "" when the node gave none. */
  contentType: string;
  /** Response body (a view into the received frame). */
  body: Uint8Array;
}

/** Why a call's deadline or signal ended it. */
export type ExpiryCause = "deadline" | "abort";

/**
 * One invocation from invoke() to its settlement. The stream and its links move `phase`
 * forward; settling is idempotent so a late ack or result cannot settle it twice.
 */
export class Call {
  /** Invocation id on the wire. */
  readonly id: number;
  /**
   * Encoded invoke frame while it waits to be written, then dropped so large bodies are not
   * kept; null from the start for a call written at once (Link.sendNow).
   */
  bytes: Uint8Array<ArrayBuffer> | null;
  /** Furthest phase reached. */
  phase: CallPhase = "waiting";
  /** Whether the node acknowledged it (stays true after settling). */
  acked = false;
  /** Whether the node's ack declared the function idempotent (the `retryable` flag). */
  retryable = false;
  /** performance.now() when written, to measure ack latency. */
  sentAt = 0;
  /** performance.now() at which it fails, whatever its phase (see Deadlines). */
  readonly deadline: number;
  /** The link carrying it once written; told when the caller gives up. */
  carrier: { abandon(): void } | null = null;
  #onAck: (() => void) | undefined;
  #settled = false;
  // Dropped once settled: a settled call may wait in the stream's Deadlines for a while, and
  // must not keep the caller's promise, and so its result, alive there.
  #resolve: ((result: InvokeResult) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #signal: AbortSignal | undefined;
  #abortListener: (() => void) | undefined;

  /** The caller's promise is the one `resolve` and `reject` settle. */
  constructor(
    id: number,
    bytes: Uint8Array<ArrayBuffer> | null,
    deadline: number,
    settlers: PromiseWithResolvers<InvokeResult>,
    onAck: (() => void) | undefined,
  ) {
    this.id = id;
    this.bytes = bytes;
    this.deadline = deadline;
    this.#resolve = settlers.resolve;
    this.#reject = settlers.reject;
    this.#onAck = onAck;
  }

  /** Whether the caller already has its answer. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Calls `expire` if `signal` fires while the call is unsettled. */
  listen(signal: AbortSignal, expire: (call: Call, cause: ExpiryCause) => void): void {
    this.#signal = signal;
    this.#abortListener = () => expire(this, "abort");
    signal.addEventListener("abort", this.#abortListener, { once: true });
  }

  /** The abort reason of the caller's signal, for AbortedError's cause. */
  get abortReason(): unknown {
    return this.#signal?.reason;
  }

  /** Records the node's ack and tells the caller; the caller's hook must not break the stream. */
  markAcked(retryable: boolean): void {
    this.acked = true;
    this.retryable = retryable;
    if (this.#settled) return;
    this.phase = "acked";
    try {
      this.#onAck?.();
    } catch {
      // A throwing hook is the caller's bug; the invocation itself is fine.
    }
  }

  resolve(result: InvokeResult): boolean {
    const resolve = this.#resolve;
    if (!this.#finish() || resolve === undefined) return false;
    resolve(result);
    return true;
  }

  reject(error: unknown): boolean {
    const reject = this.#reject;
    if (!this.#finish() || reject === undefined) return false;
    reject(error);
    return true;
  }

  #finish(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.bytes = null;
    this.#resolve = undefined;
    this.#reject = undefined;
    this.#onAck = undefined;
    this.carrier = null;
    if (this.#abortListener) this.#signal?.removeEventListener("abort", this.#abortListener);
    this.#abortListener = undefined;
    return true;
  }
}
