/**
 * Admission to one node's handshakes: at most `limit` at once, the rest wait in arrival order
 * until a slot frees or their deadline passes. Arrival order matters: a burst must not let a late
 * dispatch overtake one that has been waiting.
 */
export class GateQueue {
  #active = 0;
  #peakActive = 0;
  readonly #waiting: Waiter[] = [];
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Handshakes in progress. */
  get inFlight(): number {
    return this.#active;
  }

  /** Most handshakes that were in progress at once. */
  get peak(): number {
    return this.#peakActive;
  }

  /** Dispatches waiting for a slot. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Applies a new limit; waiters are admitted at once if it grew. */
  setLimit(limit: number): void {
    this.#limit = limit;
    this.#admit();
  }

  /** Resolves true once a slot is held, or false if `timeoutMs` passed first. */
  acquire(timeoutMs: number): Promise<boolean> {
    if (this.#active < this.#limit && this.#waiting.length === 0) {
      this.#take();
      return Promise.resolve(true);
    }
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiting.push(waiter);
    });
  }

  /** Gives a held slot back. */
  release(): void {
    this.#active = Math.max(0, this.#active - 1);
    this.#admit();
  }

  #admit(): void {
    while (this.#active < this.#limit) {
      const waiter = this.#waiting.shift();
      if (!waiter) return;
      clearTimeout(waiter.timer);
      this.#take();
      waiter.resolve(true);
    }
  }

  #take(): void {
    this.#active++;
    if (this.#active > this.#peakActive) this.#peakActive = this.#active;
  }
}

interface Waiter {
  readonly resolve: (admitted: boolean) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}
