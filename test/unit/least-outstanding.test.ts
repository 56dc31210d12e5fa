import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
