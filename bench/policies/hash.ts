// The hashing half of `npm run bench -- policies`, in plain Node on the policy's own code: key
// movement on a membership change, and the highest node load over the mean with skewed keys.
import { BoundedHashPlan, RingCache } from "../../src/balancer/consistent-hash.ts";
import { murmur3 } from "../../src/balancer/hash.ts";
import { HashRing } from "../../src/balancer/hash-ring.ts";

/** What the hashing half measured. */
export interface HashFigures {
  readonly nodes: number;
  readonly keys: number;
  readonly pointsPerWeight: number;
  /** Share of keys whose node changed when an 11th node joined (ideal 1/11). */
  readonly movedOnAdd: number;
  /** Highest share moved when one node left, over each of the 10 leaving in turn (ideal 1/10). */
  readonly movedOnRemove: number;
  readonly movedOnRemoveMean: number;
  readonly balanceFactor: number;
  readonly zipfS: number;
  readonly requestsInFlight: number;
  /** Highest node load over the mean in flight, Zipf-skewed keys. */
  readonly maxOverMean: { readonly bounded: number; readonly unbounded: number };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `node-${i}`);

function owners(nodeIds: readonly string[], hashes: Uint32Array, points: number): string[] {
  const ring = new HashRing(
    nodeIds.map((id) => ({ id, weight: 1 })),
    points,
  );
  return Array.from(hashes, (h) => ring.owner(h) as string);
}

function movedShare(a: readonly string[], b: readonly string[]): number {
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) moved++;
  return moved / a.length;
}

/** Deterministic uniform [0, 1) (mulberry32), so every run draws the same keys. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A sampler of ranks 0..n-1 with P(rank r) proportional to 1 / (r + 1)^s. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) {
    total += 1 / (r + 1) ** s;
    cumulative[r] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((cumulative[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

/**
 * Requests arrive one after another with Zipf-skewed keys and leave in arrival order once
 * `inFlight` newer ones have arrived, so the load in flight stays constant; each is placed by the
 * plan given the loads of the moment. The figure is the highest load any node reached over the
 * mean, once the window is full.
 */
function skewedLoad(
  hashes: Uint32Array,
  factor: number | undefined,
  options: { nodes: number; points: number; inFlight: number; requests: number; s: number },
): number {
  const round = ids(options.nodes);
  const rings = new RingCache(options.points);
  const load = new Map(round.map((id) => [id, 0]));
  const draw = zipf(hashes.length, options.s, seeded(7));
  const window: string[] = [];
  let worst = 0;
  for (let i = 0; i < options.requests; i++) {
    const hash = hashes[draw()] as number;
    const plan = new BoundedHashPlan(
      hash,
      () => round,
      (id) => load.get(id) ?? 0,
      rings,
      factor,
    );
    const node = plan.next() as string;
    load.set(node, (load.get(node) ?? 0) + 1);
    window.push(node);
    if (window.length > options.inFlight) {
      const gone = window.shift() as string;
      load.set(gone, (load.get(gone) ?? 0) - 1);
    }
    if (window.length === options.inFlight) {
      const mean = options.inFlight / options.nodes;
      worst = Math.max(worst, Math.max(...load.values()) / mean);
    }
  }
  return worst;
}

export function hashFigures(): HashFigures {
  const nodes = 10;
  const keys = 100_000;
  const points = 160;
  const balanceFactor = 1.25;
  const s = 1.1;
  const hashes = Uint32Array.from({ length: keys }, (_, k) => murmur3(`key-${k}`));
  const base = owners(ids(nodes), hashes, points);
  const movedOnAdd = movedShare(base, owners(ids(nodes + 1), hashes, points));
  const removals = ids(nodes).map((gone) =>
    movedShare(
      base,
      owners(
        ids(nodes).filter((id) => id !== gone),
        hashes,
        points,
      ),
    ),
  );
  const load = { nodes, points, inFlight: 1_000, requests: 200_000, s };
  return {
    nodes,
    keys,
    pointsPerWeight: points,
    movedOnAdd,
    movedOnRemove: Math.max(...removals),
    movedOnRemoveMean: removals.reduce((a, b) => a + b, 0) / removals.length,
    balanceFactor,
    zipfS: s,
    requestsInFlight: load.inFlight,
    maxOverMean: {
      bounded: skewedLoad(hashes, balanceFactor, load),
      unbounded: skewedLoad(hashes, undefined, load),
    },
  };
}
