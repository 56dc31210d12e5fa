/**
 * The most recent handshake times of a service in this isolate, for a hedge delay taken as a
 * percentile of them. Percentiles are recomputed after every `recomputeEvery` samples rather than
 * on every request, since a sort per request would cost more than the hedge saves.
 */
export class HandshakeWindow {
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #sinceSort = 0;
  #sorted: Float64Array | undefined;
  readonly #recomputeEvery: number;

  constructor(capacity = 512, recomputeEvery = 32) {
    this.#samples = new Float64Array(capacity);
    this.#recomputeEvery = recomputeEvery;
  }

  /** Samples held (at most the capacity). */
  get size(): number {
    return this.#count;
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    this.#count = Math.min(this.#count + 1, this.#samples.length);
    this.#sinceSort++;
  }

  /** The p-th percentile (0–100) of the samples, nearest rank; undefined with none. */
  percentile(p: number): number | undefined {
    if (this.#count === 0) return undefined;
    if (!this.#sorted || this.#sinceSort >= this.#recomputeEvery) {
      this.#sorted = this.#samples.slice(0, this.#count).sort();
      this.#sinceSort = 0;
    }
    const sorted = this.#sorted;
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank];
  }
}
