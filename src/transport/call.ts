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

/** Why a call's own timer or signal ended it. */
export type ExpiryCause = "deadline" | "abort";

/**
 * One invocation from invoke() to its settlement. The stream and its links move `phase`
 * forward; settling is idempotent so a late ack or result cannot settle it twice.
 */
export class Call {
  /** Invocation id on the wire. */
  readonly id: number;
  /** Encoded invoke frame; dropped once written so large bodies are not kept. */
  bytes: Uint8Array<ArrayBuffer> | null;
  /** Furthest phase reached. */
  phase: CallPhase = "waiting";
  /** Whether the node acknowledged it (stays true after settling). */
  acked = false;
  /** performance.now() when written, to measure ack latency. */
  sentAt = 0;
  /** The link carrying it once written; told when the caller gives up. */
  carrier: { abandon(): void } | null = null;
  /** The caller's promise. */
  readonly promise: Promise<InvokeResult>;
  readonly #onAck: (() => void) | undefined;
  #settled = false;
  #resolve: (result: InvokeResult) => void;
  #reject: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #signal: AbortSignal | undefined;
  #abortListener: (() => void) | undefined;

  constructor(id: number, bytes: Uint8Array<ArrayBuffer>, onAck: (() => void) | undefined) {
    this.id = id;
    this.bytes = bytes;
    this.#onAck = onAck;
    const { promise, resolve, reject } = Promise.withResolvers<InvokeResult>();
    this.promise = promise;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Whether the caller already has its answer. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Starts the deadline timer and abort listener; `expire` runs at most once, while unsettled. */
  arm(
    deadlineMs: number,
    signal: AbortSignal | undefined,
    expire: (call: Call, cause: ExpiryCause) => void,
  ): void {
    this.#timer = setTimeout(() => expire(this, "deadline"), deadlineMs);
    if (signal) {
      this.#signal = signal;
      this.#abortListener = () => expire(this, "abort");
      signal.addEventListener("abort", this.#abortListener, { once: true });
    }
  }

  /** The abort reason of the caller's signal, for AbortedError's cause. */
  get abortReason(): unknown {
    return this.#signal?.reason;
  }

  /** Records the node's ack and tells the caller; the caller's hook must not break the stream. */
  markAcked(): void {
    this.acked = true;
    if (this.#settled) return;
    this.phase = "acked";
    try {
      this.#onAck?.();
    } catch {
      // A throwing hook is the caller's bug; the invocation itself is fine.
    }
  }

  resolve(result: InvokeResult): boolean {
    if (!this.#finish()) return false;
    this.#resolve(result);
    return true;
  }

  reject(error: unknown): boolean {
    if (!this.#finish()) return false;
    this.#reject(error);
    return true;
  }

  #finish(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.bytes = null;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#abortListener) this.#signal?.removeEventListener("abort", this.#abortListener);
    return true;
  }
}
