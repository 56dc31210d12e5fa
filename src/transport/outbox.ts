/**
 * Coalesces frames into WebSocket messages of at most `limit` bytes, so a burst of frames costs
 * one message (and one socket write) instead of one each. Frames are copied into one buffer
 * as they come, or written there in place (reserve), and a message is one copy of it: the
 * buffer is kept for the next message, since a socket may hold on to what it was given.
 */
export class Outbox {
  readonly #limit: number;
  #buffer: Uint8Array<ArrayBuffer>;
  /** Bytes waiting, a lone frame's included. */
  #used = 0;
  /** A frame larger than the limit, which travels alone and uncopied. */
  #alone: Uint8Array<ArrayBuffer> | null = null;

  /** `limit` bounds a batch; a single larger frame still travels alone. */
  constructor(limit: number) {
    this.#limit = limit;
    this.#buffer = new Uint8Array(Math.min(limit, 1024));
  }

  /** Whether nothing is waiting. */
  get empty(): boolean {
    return this.#used === 0;
  }

  /** Whether adding a frame of `size` bytes would take the batch past its limit. */
  overflows(size: number): boolean {
    return this.#used > 0 && this.#used + size > this.#limit;
  }

  /** Adds an encoded frame; flush first when it overflows. */
  push(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#used === 0 && frame.byteLength > this.#limit) {
      this.#alone = frame;
      this.#used = frame.byteLength;
      return;
    }
    const at = this.reserve(frame.byteLength);
    this.#buffer.set(frame, at);
  }

  /**
   * Makes room for a frame of `size` bytes, to be written into `bytes` from the returned
   * offset before anything else is added; flush first when it overflows.
   */
  reserve(size: number): number {
    const at = this.#used;
    if (at === 0 && size > this.#limit) {
      this.#alone = new Uint8Array(size);
      this.#used = size;
      return 0;
    }
    const needed = at + size;
    if (needed > this.#buffer.byteLength) {
      let capacity = this.#buffer.byteLength * 2;
      while (capacity < needed) capacity *= 2;
      // Past the limit only for a caller that did not flush first: a bigger message, not a loss.
      const grown = new Uint8Array(Math.max(needed, Math.min(capacity, this.#limit)));
      grown.set(this.#buffer.subarray(0, at));
      this.#buffer = grown;
    }
    this.#used = needed;
    return at;
  }

  /** Where reserve's room is; read it after reserve, which may replace it. */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.#alone ?? this.#buffer;
  }

  /** The waiting frames as one message, or null if there are none; empties the outbox. */
  take(): Uint8Array<ArrayBuffer> | null {
    const used = this.#used;
    if (used === 0) return null;
    const alone = this.#alone;
    this.clear();
    return alone ?? this.#buffer.slice(0, used);
  }

  /** Drops whatever is waiting. */
  clear(): void {
    this.#used = 0;
    this.#alone = null;
  }
}

/** Batch size a sender aims for: large enough to amortise a write, small enough for latency. */
export const BATCH_TARGET_BYTES = 64 * 1024;
