import { concatBytes } from "../http/limited-body.ts";

/**
 * Coalesces encoded frames into WebSocket messages of at most `limit` bytes, so a burst of
 * frames costs one message (and one socket write) instead of one each.
 */
export class Outbox {
  readonly #limit: number;
  #parts: Uint8Array<ArrayBuffer>[] = [];
  #bytes = 0;

  /** `limit` bounds a batch; a single larger frame still travels alone. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whether nothing is waiting. */
  get empty(): boolean {
    return this.#parts.length === 0;
  }

  /** Whether adding `frame` would take the batch past its limit. */
  overflows(frame: Uint8Array): boolean {
    return this.#parts.length > 0 && this.#bytes + frame.byteLength > this.#limit;
  }

  push(frame: Uint8Array<ArrayBuffer>): void {
    this.#parts.push(frame);
    this.#bytes += frame.byteLength;
  }

  /** The waiting frames as one message, or null if there are none; empties the outbox. */
  take(): Uint8Array<ArrayBuffer> | null {
    const parts = this.#parts;
    if (parts.length === 0) return null;
    const total = this.#bytes;
    this.#parts = [];
    this.#bytes = 0;
    return concatBytes(parts, total) as Uint8Array<ArrayBuffer>;
  }

  /** Drops whatever is waiting. */
  clear(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** Batch size a sender aims for: large enough to amortise a write, small enough for latency. */
export const BATCH_TARGET_BYTES = 64 * 1024;
