import { HashRing } from "./hash-ring.ts";
import type { NodePlan } from "./node-plan.ts";

/**
 * The rings of one service, by the weighted round of routable nodes they were built from. A round
 * is the same array for as long as membership is unchanged, so the usual lookup is by identity;
 * rounds rebuilt for a retry's farther scope are found by content.
 */
export class RingCache {
  readonly #pointsPerWeight: number;
  readonly #byRound = new WeakMap<readonly string[], HashRing>();
  readonly #byContent = new Map<string, HashRing>();

  constructor(pointsPerWeight: number) {
    this.#pointsPerWeight = pointsPerWeight;
  }

  /** The ring of a weighted round (node ids, each repeated by its weight). */
  ringOf(round: readonly string[]): HashRing {
    const known = this.#byRound.get(round);
    if (known) return known;
    const key = round.join("\n");
    let ring = this.#byContent.get(key);
    if (!ring) {
      const weights = new Map<string, number>();
      for (const id of round) weights.set(id, (weights.get(id) ?? 0) + 1);
      ring = new HashRing(
        [...weights].map(([id, weight]) => ({ id, weight })),
        this.#pointsPerWeight,
      );
      // A handful of memberships are current at once (one per scope level); older ones go.
      if (this.#byContent.size >= 16) this.#byContent.clear();
      this.#byContent.set(key, ring);
    }
    this.#byRound.set(round, ring);
    return ring;
  }
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam; Envoy's
 * hash_balance_factor, HAProxy's hash-balance-factor). A key goes to the node owning its hash on
 * the ring of routable nodes, unless that node already has more than `balanceFactor` times its
 * weighted share of the requests in flight; then it spills to the next node along the ring, and
 * comes back as soon as the load falls. Since the capacities add up to more than the load, some
 * node always has room. A node that is not routable (ejected, unhealthy, outside the scope) is
 * not on the ring, so only its keys move, to their next node, and return with it.
 *
 * Retries keep the tried-set rule: each walks on from the key's owner to the first untried node.
 */
export class BoundedHashPlan implements NodePlan {
  readonly #tried = new Set<string>();
  readonly #hash: number;
  readonly #members: (tried: ReadonlySet<string>) => readonly string[];
  readonly #outstanding: (id: string) => number;
  readonly #rings: RingCache;
  readonly #balanceFactor: number | undefined;

  /**
   * @param hash the request key's hash
   * @param members the weighted round of routable nodes, given the tried-set (see RotationPlan)
   * @param outstanding requests in flight at a node now
   * @param balanceFactor most load a node takes over its share of the mean; undefined: unbounded
   */
  constructor(
    hash: number,
    members: (tried: ReadonlySet<string>) => readonly string[],
    outstanding: (id: string) => number,
    rings: RingCache,
    balanceFactor?: number,
  ) {
    this.#hash = hash;
    this.#members = members;
    this.#outstanding = outstanding;
    this.#rings = rings;
    this.#balanceFactor = balanceFactor;
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
    const ring = this.#rings.ringOf(this.#members(this.#tried));
    const untried = (id: string) => !this.#tried.has(id);
    const factor = this.#balanceFactor;
    if (factor !== undefined) {
      let total = 0;
      for (const id of ring.ids) total += this.#outstanding(id);
      // A node's share of the mean with this request counted, times the factor. Rounded down, a
      // node never goes past the factor; when small loads leave no node under that, rounded up,
      // which the loads always leave room under (the capacities add up to more than the load).
      const perWeight = (factor * (total + 1)) / ring.totalWeight;
      for (const round of [Math.floor, Math.ceil]) {
        for (const id of ring.walk(this.#hash)) {
          const capacity = round(perWeight * ring.weightOf(id));
          if (untried(id) && this.#outstanding(id) + 1 <= capacity) return this.#take(id);
        }
      }
    }
    for (const id of ring.walk(this.#hash)) if (untried(id)) return this.#take(id);
    return undefined;
  }

  #take(id: string): string {
    this.#tried.add(id);
    return id;
  }
}

/**
 * Whether one more request fits under a node's bounded load: its requests in flight, this one
 * counted, within `balanceFactor` times its weighted share of the mean over `round` (the weighted
 * round of routable nodes), rounded up as the ring's second pass rounds it, so a lightly loaded
 * node always has room. A node outside the round has none.
 */
export function underBoundedLoad(
  id: string,
  round: readonly string[],
  outstanding: (id: string) => number,
  balanceFactor: number,
): boolean {
  let weight = 0;
  let total = 0;
  const seen = new Set<string>();
  for (const member of round) {
    if (member === id) weight++;
    if (seen.has(member)) continue;
    seen.add(member);
    total += outstanding(member);
  }
  if (weight === 0) return false;
  const capacity = Math.ceil((balanceFactor * (total + 1) * weight) / round.length);
  return outstanding(id) + 1 <= capacity;
}
