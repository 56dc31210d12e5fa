/** Settings of a retry budget. */
export interface RetryBudgetSettings {
  /** Retries in flight at most this share of the requests in flight, in percent (Envoy: 20). */
  readonly percent: number;
  /** Retries in flight allowed whatever the share, so that light traffic can still retry (Envoy: 3). */
  readonly minRetries: number;
}

/**
 * Envoy's retry budget: a retry may start only while the retries in flight stay within a share of
 * the requests in flight, or within a small minimum. When every node fails a share of requests,
 * unbudgeted retries multiply the load by up to `maxAttempts` just as the fleet can least take it;
 * a budget caps the extra load at its share. A hedge is a retry to the budget.
 *
 * It counts one isolate's requests, as Envoy's counts one proxy's: a shared count would put a
 * Durable Object call on every retry, on the path of exactly the requests that are failing.
 */
export class RetryBudget {
  readonly #settings: RetryBudgetSettings | undefined;
  #requests = 0;
  #retries = 0;

  /** @param settings undefined: no budget, every retry the attempt cap allows may start */
  constructor(settings: RetryBudgetSettings | undefined) {
    this.#settings = settings;
  }

  /** Counts a request in flight; call the returned function once when it ends. */
  enterRequest(): () => void {
    this.#requests++;
    return once(() => {
      this.#requests--;
    });
  }

  /**
   * Starts a retry if the budget has room: the function to call once when it ends, or undefined
   * when it has none.
   */
  tryRetry(): (() => void) | undefined {
    const settings = this.#settings;
    if (settings) {
      const allowed = Math.max(settings.minRetries, (settings.percent / 100) * this.#requests);
      if (this.#retries + 1 > allowed) return undefined;
    }
    this.#retries++;
    return once(() => {
      this.#retries--;
    });
  }

  /** Requests and retries in flight now. */
  get inFlight(): { requests: number; retries: number } {
    return { requests: this.#requests, retries: this.#retries };
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
