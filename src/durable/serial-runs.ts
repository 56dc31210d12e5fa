/**
 * Runs an object's alarm work one run after another. A run that overlaps another (an alarm that
 * Cloudflare retried while the first still works, or one a test drives) waits for it and then
 * does a whole run of its own, so no two runs touch the same state at once and a caller whose run
 * returns knows the work it asked for is done.
 */
export class SerialRuns {
  #current: Promise<void> | undefined;

  async run(work: () => Promise<void>): Promise<void> {
    while (this.#current) await this.#current.catch(() => undefined);
    const current = work();
    this.#current = current;
    try {
      await current;
    } finally {
      this.#current = undefined;
    }
  }
}
