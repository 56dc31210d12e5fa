import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildSchedule } from "../../src/balancer/rotation.ts";
import { RotationPlan } from "../../src/balancer/rotation-plan.ts";

const NODE_IDS = ["a", "b", "c", "d", "e", "f"];

/** A step of a concurrent schedule: one dispatch asks for its next node, or membership changes. */
type Step =
  | { kind: "next"; plan: number }
  | { kind: "eject"; node: number }
  | { kind: "readmit"; node: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("next" as const), plan: fc.nat(3) }),
  fc.record({ kind: fc.constant("eject" as const), node: fc.nat(NODE_IDS.length - 1) }),
  fc.record({ kind: fc.constant("readmit" as const), node: fc.nat(NODE_IDS.length - 1) }),
);

describe("RotationPlan", () => {
  it("never yields a node twice and is exhausted exactly when every live node was tried", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: NODE_IDS.length }),
        fc.array(fc.nat(1_000), { minLength: 4, maxLength: 4 }),
        fc.array(stepArb, { maxLength: 120 }),
        (nodeCount, positions, steps) => {
          const nodes = NODE_IDS.slice(0, nodeCount);
          const live = new Set(nodes);
          const round = () => nodes.filter((id) => live.has(id));
          const plans = positions.map((p) => new RotationPlan(p, round));
          const yielded = plans.map(() => new Set<string>());
          for (const step of steps) {
            if (step.kind === "eject") live.delete(nodes[step.node % nodeCount] as string);
            if (step.kind === "readmit") live.add(nodes[step.node % nodeCount] as string);
            if (step.kind !== "next") continue;
            const id = plans[step.plan]?.next();
            const seen = yielded[step.plan] as Set<string>;
            if (id === undefined) {
              // Exhausted: no live node is left untried.
              expect([...live].filter((n) => !seen.has(n))).toEqual([]);
            } else {
              expect(seen.has(id)).toBe(false);
              expect(live.has(id)).toBe(true);
              seen.add(id);
            }
          }
        },
      ),
    );
  });

  it("walks the rotation from its position, wrapping around", () => {
    const plan = new RotationPlan(2, () => ["a", "b", "c", "d"]);
    expect([plan.next(), plan.next(), plan.next(), plan.next(), plan.next()]).toEqual([
      "c",
      "d",
      "a",
      "b",
      undefined,
    ]);
    expect(plan.triedNodes).toEqual(["c", "d", "a", "b"]);
  });

  it("goes on into the round the schedule gives once the tried-set covers the nearest one", () => {
    // The nearest scope is a and b; once both are tried the schedule offers the next scope.
    const schedule = (tried: ReadonlySet<string>) =>
      tried.has("a") && tried.has("b") ? ["a", "b", "c", "d"] : ["a", "b"];
    const plan = new RotationPlan(0, schedule);
    const order = [plan.next(), plan.next(), plan.next(), plan.next(), plan.next()];
    expect(order.slice(0, 2).sort()).toEqual(["a", "b"]);
    expect(order.slice(2, 4).sort()).toEqual(["c", "d"]);
    expect(order[4]).toBeUndefined();
  });

  it("treats weighted repeats as one node", () => {
    const plan = new RotationPlan(0, () => buildSchedule([{ id: "a", weight: 3 }, { id: "b" }]));
    expect(new Set([plan.next(), plan.next()])).toEqual(new Set(["a", "b"]));
    expect(plan.next()).toBeUndefined();
  });

  it("spreads first choices in strict rotation: each node once per round", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.nat(10_000),
        fc.integer({ min: 1, max: 5 }),
        (n, start, rounds) => {
          const round = NODE_IDS.slice(0, n);
          const counts = new Map<string, number>();
          for (let p = start; p < start + n * rounds; p++) {
            const first = new RotationPlan(p, () => round).next() as string;
            counts.set(first, (counts.get(first) ?? 0) + 1);
          }
          expect([...counts.values()]).toEqual(round.map(() => rounds));
        },
      ),
    );
  });
});

describe("RotationPlan.hasNext", () => {
  it("tells whether an untried routable node remains, without consuming it", () => {
    const live = ["a", "b"];
    const plan = new RotationPlan(0, () => live);
    expect(plan.hasNext()).toBe(true);
    plan.next();
    plan.next();
    expect(plan.hasNext()).toBe(false);
    live.push("c");
    expect(plan.hasNext()).toBe(true);
    expect(plan.next()).toBe("c");
  });
});

describe("RotationPlan admitFirst (slow start)", () => {
  it("lets the first choice pass over a declined node without marking it tried", () => {
    const plan = new RotationPlan(
      0,
      () => ["a", "b", "c"],
      (id) => id !== "a",
    );
    expect(plan.next()).toBe("b");
    expect(plan.next()).toBe("c");
    expect(plan.next()).toBe("a");
    expect(plan.next()).toBeUndefined();
  });

  it("takes the first untried node when every node is declined", () => {
    const plan = new RotationPlan(
      1,
      () => ["a", "b", "c"],
      () => false,
    );
    expect(plan.next()).toBe("b");
  });
});
