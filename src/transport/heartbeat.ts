/**
 * A link's heartbeat: at each tick, either the node has been silent for too long, or a ping goes
 * out. Any frame from the node counts as heard; only silence across whole ticks adds up.
 */
export class Heartbeat {
  #heard = false;
  #silentMs = 0;
  #pingId = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Calls `tick` every `intervalMs` until stopped. */
  start(intervalMs: number, tick: (intervalMs: number) => void): void {
    this.stop();
    this.#timer = setInterval(() => tick(intervalMs), intervalMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A frame arrived from the node. */
  heard(): void {
    this.#heard = true;
  }

  /** One tick: how long the node has been silent if that reached `timeoutMs`, else the next ping's id. */
  tick(intervalMs: number, timeoutMs: number): { silentMs: number } | { pingId: number } {
    this.#silentMs = this.#heard ? 0 : this.#silentMs + intervalMs;
    this.#heard = false;
    if (this.#silentMs >= timeoutMs) return { silentMs: this.#silentMs };
    this.#pingId = (this.#pingId + 1) % 2 ** 32;
    return { pingId: this.#pingId };
  }
}
