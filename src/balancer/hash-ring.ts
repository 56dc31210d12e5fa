import { murmur3 } from "./hash.ts";

/** A node as the ring places it. */
export interface RingMember {
  readonly id: string;
  /** Relative share of the ring: this many times `pointsPerWeight` points. */
  readonly weight: number;
}

/**
 * A ring hash (Karger et al.; Envoy's ring_hash, NGINX's `hash … consistent`): every node owns
 * points on a 32-bit circle, placed by hashing its id, and a key belongs to the first point at or
 * after its own hash. A node's points depend on nothing but its id and weight, so when a node
 * joins only the keys now owned by its points move, and when one leaves only its own keys move,
 * each to the node of the next point. That is what lets an ejected node's keys go elsewhere while
 * every other key stays put. Chosen over Maglev, whose table is rebuilt on every membership
 * change and moves some keys between nodes that stayed, and whose fixed table gives no "next
 * node" for a spilled key to go to (docs/architecture.md).
 */
export class HashRing {
  /** Point hashes, ascending. */
  readonly #points: Uint32Array;
  /** Index into #ids of each point's node. */
  readonly #owners: Uint16Array;
  readonly #ids: readonly string[];
  readonly #weights: ReadonlyMap<string, number>;

  constructor(members: readonly RingMember[], pointsPerWeight: number) {
    const ids = [...new Set(members.map((m) => m.id))].sort();
    const weights = new Map(members.map((m) => [m.id, m.weight]));
    const placed: [number, number][] = [];
    ids.forEach((id, owner) => {
      const count = pointsPerWeight * (weights.get(id) ?? 1);
      for (let replica = 0; replica < count; replica++) {
        placed.push([murmur3(`${id}#${replica}`), owner]);
      }
    });
    // Ties (vanishingly rare) go to the smaller id, so every isolate builds the same ring.
    placed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#points = Uint32Array.from(placed, (p) => p[0]);
    this.#owners = Uint16Array.from(placed, (p) => p[1]);
    this.#ids = ids;
    this.#weights = weights;
  }

  /** Ids of the nodes on the ring. */
  get ids(): readonly string[] {
    return this.#ids;
  }

  weightOf(id: string): number {
    return this.#weights.get(id) ?? 0;
  }

  /** Sum of the weights of every node on the ring. */
  get totalWeight(): number {
    let total = 0;
    for (const weight of this.#weights.values()) total += weight;
    return total;
  }

  /** The node owning `hash`: the first point at or after it, wrapping round. */
  owner(hash: number): string | undefined {
    return this.walk(hash).next().value ?? undefined;
  }

  /** Every node once, in ring order from the owner of `hash`: where its keys go when it cannot take them. */
  *walk(hash: number): Generator<string, void, undefined> {
    const count = this.#points.length;
    if (count === 0) return;
    const seen = new Set<number>();
    const start = this.#firstAtOrAfter(hash >>> 0);
    for (let step = 0; step < count && seen.size < this.#ids.length; step++) {
      const owner = this.#owners[(start + step) % count] as number;
      if (seen.has(owner)) continue;
      seen.add(owner);
      yield this.#ids[owner] as string;
    }
  }

  #firstAtOrAfter(hash: number): number {
    let low = 0;
    let high = this.#points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#points[mid] as number) < hash) low = mid + 1;
      else high = mid;
    }
    return low === this.#points.length ? 0 : low;
  }
}
