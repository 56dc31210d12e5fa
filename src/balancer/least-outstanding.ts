import type { NodePlan } from "./node-plan.ts";

/**
 * Least outstanding requests by the power of two choices, as Envoy's least-request balancer:
 * each pick samples two untried routable nodes at random and takes the one with fewer requests
 * in flight. Comparing two is nearly as good as scanning all, and it avoids the herd behaviour of
 * everyone picking the single least-loaded node at once. A slow node keeps requests in flight
 * longer, so it is picked less without any latency bookkeeping.
 *
 * Membership is read afresh at every pick, and exhaustion is decided from the tried-set, as in
 * the round-robin query plan.
 */
export class LeastOutstandingPlan implements NodePlan {
  readonly #tried = new Set<string>();
  readonly #members: (tried: ReadonlySet<string>) => readonly string[];
  readonly #outstanding: (id: string) => number;
  readonly #random: () => number;

  /**
   * @param members routable node ids (a weighted round may repeat ids; repeats raise the chance
   *   of being sampled, which is how weight applies here); given the tried-set, so it may move on
   *   to a farther scope once the nearest is spent
   * @param outstanding requests this node has in flight now
   */
  constructor(
    members: (tried: ReadonlySet<string>) => readonly string[],
    outstanding: (id: string) => number,
    random: () => number,
  ) {
    this.#members = members;
    this.#outstanding = outstanding;
    this.#random = random;
  }

  get triedNodes(): string[] {
    return [...this.#tried];
  }

  hasNext(): boolean {
    return this.#members(this.#tried).some((id) => !this.#tried.has(id));
  }

  exclude(id: string): void {
    this.#tried.add(id);
  }

  next(): string | undefined {
    const candidates = this.#members(this.#tried).filter((id) => !this.#tried.has(id));
    if (candidates.length === 0) return undefined;
    const first = candidates[Math.floor(this.#random() * candidates.length)] as string;
    let second = candidates[Math.floor(this.#random() * candidates.length)] as string;
    if (second === first) {
      // Sample again among the others, so two distinct nodes are compared whenever there are two.
      const others = candidates.filter((id) => id !== first);
      if (others.length > 0) second = others[Math.floor(this.#random() * others.length)] as string;
    }
    const chosen = this.#outstanding(second) < this.#outstanding(first) ? second : first;
    this.#tried.add(chosen);
    return chosen;
  }
}
