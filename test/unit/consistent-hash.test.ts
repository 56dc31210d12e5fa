import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedHashPlan, RingCache } from "../../src/balancer/consistent-hash.ts";
import { murmur3 } from "../../src/balancer/hash.ts";
import { HashRing, type RingMember } from "../../src/balancer/hash-ring.ts";

const nodeSet = fc.uniqueArray(
  fc.record({
    id: fc.stringMatching(/^[a-z0-9.:-]{1,12}$/),
    weight: fc.integer({ min: 1, max: 3 }),
  }),
  { minLength: 2, maxLength: 12, selector: (m) => m.id },
);
const keys = fc.uniqueArray(fc.string({ maxLength: 24 }), { minLength: 1, maxLength: 200 });

function owners(
  members: readonly RingMember[],
  keyList: readonly string[],
): (string | undefined)[] {
  const ring = new HashRing(members, 40);
  return keyList.map((key) => ring.owner(murmur3(key)));
}

/** A weighted round as membership hands it to a plan: each id repeated by its weight. */
function roundOf(members: readonly RingMember[]): string[] {
  return members.flatMap((m) => Array.from({ length: m.weight }, () => m.id));
}

describe("HashRing", () => {
  it("moves only the removed node's keys when a node leaves", () => {
    fc.assert(
      fc.property(nodeSet, keys, fc.nat(), (members, keyList, pick) => {
        const gone = members[pick % members.length] as RingMember;
        const before = owners(members, keyList);
        const after = owners(
          members.filter((m) => m.id !== gone.id),
          keyList,
        );
        keyList.forEach((_, i) => {
          if (before[i] !== gone.id) expect(after[i]).toBe(before[i]);
          else expect(after[i]).not.toBe(gone.id);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("moves only the keys the new node takes when a node joins", () => {
    fc.assert(
      fc.property(nodeSet, keys, (members, keyList) => {
        const [added, ...rest] = members as [RingMember, ...RingMember[]];
        const before = owners(rest, keyList);
        const after = owners(members, keyList);
        keyList.forEach((_, i) => {
          if (after[i] !== added.id) expect(after[i]).toBe(before[i]);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("gives every node a share near its weight's", () => {
    const members = Array.from({ length: 10 }, (_, i) => ({
      id: `node-${i}`,
      weight: i === 0 ? 2 : 1,
    }));
    const ring = new HashRing(members, 160);
    const counts = new Map<string, number>();
    for (let k = 0; k < 20_000; k++) {
      const owner = ring.owner(murmur3(`key-${k}`)) as string;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    // 11 weight units: 1/11 of the keys per unit, within a loose band for a 160-point ring.
    const unit = 20_000 / 11;
    expect(counts.get("node-0")).toBeGreaterThan(2 * unit * 0.75);
    for (let i = 1; i < 10; i++) {
      expect(counts.get(`node-${i}`)).toBeGreaterThan(unit * 0.75);
      expect(counts.get(`node-${i}`)).toBeLessThan(unit * 1.25);
    }
  });

  it("walks every node once, starting at the owner", () => {
    const ring = new HashRing(
      [
        { id: "a", weight: 1 },
        { id: "b", weight: 2 },
        { id: "c", weight: 1 },
      ],
      8,
    );
    const hash = murmur3("k");
    const walk = [...ring.walk(hash)];
    expect(new Set(walk)).toEqual(new Set(["a", "b", "c"]));
    expect(walk).toHaveLength(3);
    expect(walk[0]).toBe(ring.owner(hash));
    expect([...new HashRing([], 8).walk(hash)]).toEqual([]);
  });
});

describe("BoundedHashPlan", () => {
  const members = ["a", "b", "c", "d", "e"].map((id) => ({ id, weight: 1 }));

  it("sends a key to its owner while the owner has room, and its retries along the ring", () => {
    const rings = new RingCache(40);
    const round = roundOf(members);
    const ring = rings.ringOf(round);
    const hash = murmur3("user-42");
    const plan = new BoundedHashPlan(
      hash,
      () => round,
      () => 0,
      rings,
      1.25,
    );
    const order = [plan.next(), plan.next(), plan.next()];
    expect(order).toEqual([...ring.walk(hash)].slice(0, 3));
    expect(plan.triedNodes).toEqual(order);
  });

  it("moves only an unroutable node's keys, each to its next node, and brings them back", () => {
    const rings = new RingCache(40);
    const all = roundOf(members);
    const withoutC = all.filter((id) => id !== "c");
    const ring = rings.ringOf(all);
    for (let k = 0; k < 500; k++) {
      const hash = murmur3(`key-${k}`);
      const home = ring.owner(hash);
      const away = new BoundedHashPlan(
        hash,
        () => withoutC,
        () => 0,
        rings,
      ).next();
      if (home === "c") expect(away).toBe([...ring.walk(hash)][1]);
      else expect(away).toBe(home);
      expect(
        new BoundedHashPlan(
          hash,
          () => all,
          () => 0,
          rings,
        ).next(),
      ).toBe(home);
    }
  });

  it("never puts a node past its bound, and spills only while it is loaded", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 40 }), { minLength: 5, maxLength: 5 }),
        fc.string(),
        fc.constantFrom(1, 1.25, 2),
        (loads, key, factor) => {
          const rings = new RingCache(40);
          const round = roundOf(members);
          const load = (id: string) => loads[members.findIndex((m) => m.id === id)] as number;
          const chosen = new BoundedHashPlan(murmur3(key), () => round, load, rings, factor).next();
          const total = loads.reduce((a, b) => a + b, 0);
          const share = (factor * (total + 1)) / members.length;
          const strict = Math.floor(share);
          // Past the factor only when small loads leave no node under it.
          const roomy = loads.some((l) => l + 1 <= strict);
          const bound = roomy ? strict : Math.ceil(share);
          expect(load(chosen as string) + 1).toBeLessThanOrEqual(bound);
          // The owner is skipped only when it is at its bound.
          const owner = rings.ringOf(round).owner(murmur3(key)) as string;
          if (chosen !== owner) expect(load(owner) + 1).toBeGreaterThan(bound);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("without a bound, ignores load", () => {
    const rings = new RingCache(40);
    const round = roundOf(members);
    const hash = murmur3("hot");
    const owner = rings.ringOf(round).owner(hash);
    expect(
      new BoundedHashPlan(
        hash,
        () => round,
        () => 1_000,
        rings,
      ).next(),
    ).toBe(owner);
  });

  it("is exhausted once every routable node was tried, excluded ones included", () => {
    const rings = new RingCache(8);
    const plan = new BoundedHashPlan(
      1,
      () => ["a", "b"],
      () => 0,
      rings,
      1.25,
    );
    plan.exclude("a");
    expect(plan.next()).toBe("b");
    expect(plan.hasNext()).toBe(false);
    expect(plan.next()).toBeUndefined();
  });
});
