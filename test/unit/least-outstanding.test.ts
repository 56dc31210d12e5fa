import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type LatencyOutlierPolicy,
  latencyOutliers,
  recordLatency,
} from "../../src/balancer/latency-outlier.ts";
import { LeastOutstandingPlan } from "../../src/balancer/least-outstanding.ts";

describe("LeastOutstandingPlan", () => {
  it("never yields a node twice and is exhausted exactly when all were tried", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", "c", "d"), { minLength: 0, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 40, maxLength: 40 }),
        (members, randoms) => {
          let i = 0;
          const plan = new LeastOutstandingPlan(
            () => members,
            () => 0,
            () => randoms[i++ % randoms.length] as number,
          );
          const seen: string[] = [];
          for (let id = plan.next(); id !== undefined; id = plan.next()) seen.push(id);
          expect(new Set(seen).size).toBe(seen.length);
          expect(new Set(seen)).toEqual(new Set(members));
          expect(plan.hasNext()).toBe(false);
        },
      ),
    );
  });

  it("takes the less loaded of the two nodes it samples", () => {
    const load: Record<string, number> = { a: 5, b: 1, c: 9 };
    const picks = [0, 0.5]; // samples "a" then "b"
    let i = 0;
    const plan = new LeastOutstandingPlan(
      () => ["a", "b", "c"],
      (id) => load[id] ?? 0,
      () => picks[i++] ?? 0,
    );
    expect(plan.next()).toBe("b");
  });

  it("compares two distinct nodes even when the first two samples coincide", () => {
    const picks = [0, 0, 0.9]; // "a", "a" again, then the last of the others: "c"
    let i = 0;
    const plan = new LeastOutstandingPlan(
      () => ["a", "b", "c"],
      (id) => (id === "c" ? 0 : 3),
      () => picks[i++] ?? 0,
    );
    expect(plan.next()).toBe("c");
  });

  it("sends less to a node that keeps requests in flight longer", () => {
    const load: Record<string, number> = { slow: 6, a: 1, b: 1 };
    const counts: Record<string, number> = {};
    for (let n = 0; n < 3_000; n++) {
      const id = new LeastOutstandingPlan(
        () => ["slow", "a", "b"],
        (x) => load[x] ?? 0,
        Math.random,
      ).next() as string;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts.slow ?? 0).toBeLessThan((counts.a ?? 0) / 2);
  });
});

describe("latency outliers", () => {
  const policy: LatencyOutlierPolicy = { factor: 3, minSamples: 3, ejectMs: 1_000, floorMs: 50 };
  const stats = (entries: Record<string, number[]>) =>
    new Map(
      Object.entries(entries).map(([id, samples]) => [
        id,
        samples.reduce<ReturnType<typeof recordLatency> | undefined>(
          (s, ms) => recordLatency(s, ms),
          undefined,
        )!,
      ]),
    );

  it("flags a node far slower than the median of its peers", () => {
    expect(
      latencyOutliers(stats({ a: [5, 6, 5], b: [4, 5, 6], slow: [300, 310, 290] }), policy, 1),
    ).toEqual(["slow"]);
  });

  it("ignores nodes with too few samples, small absolute latencies, and uniform slowness", () => {
    expect(latencyOutliers(stats({ a: [5, 5, 5], slow: [300, 300] }), policy, 1)).toEqual([]);
    expect(latencyOutliers(stats({ a: [1, 1, 1], b: [40, 40, 40] }), policy, 1)).toEqual([]);
    expect(latencyOutliers(stats({ a: [400, 400, 400], b: [420, 410, 400] }), policy, 1)).toEqual(
      [],
    );
  });

  it("respects the allowance, worst first", () => {
    const s = stats({
      a: [5, 5, 5],
      b: [5, 5, 5],
      c: [5, 5, 5],
      x: [200, 200, 200],
      y: [900, 900, 900],
    });
    expect(latencyOutliers(s, policy, 1)).toEqual(["y"]);
    expect(latencyOutliers(s, policy, 0)).toEqual([]);
  });
});
