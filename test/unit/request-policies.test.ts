import { describe, expect, it } from "vitest";
import { underBoundedLoad } from "../../src/balancer/consistent-hash.ts";
import { HandshakeWindow } from "../../src/balancer/handshake-window.ts";
import { PinnedPlan } from "../../src/balancer/pinned-plan.ts";
import { RetryBudget } from "../../src/balancer/retry-budget.ts";
import { RotationPlan } from "../../src/balancer/rotation-plan.ts";

describe("RetryBudget", () => {
  it("allows retries up to the share of requests in flight, and the minimum below it", () => {
    const budget = new RetryBudget({ percent: 20, minRetries: 3 });
    const requests = Array.from({ length: 20 }, () => budget.enterRequest());
    const retries = Array.from({ length: 5 }, () => budget.tryRetry());
    // 20% of 20 is 4, above the minimum of 3.
    expect(retries.filter(Boolean)).toHaveLength(4);
    for (const release of requests.slice(0, 15)) release();
    retries[0]?.();
    retries[0]?.(); // released once only
    // 5 requests: 20% is 1, so the minimum of 3 rules; 3 retries are still out.
    expect(budget.tryRetry()).toBeUndefined();
    retries[1]?.();
    expect(budget.tryRetry()).toBeDefined();
    expect(budget.inFlight).toEqual({ requests: 5, retries: 3 });
  });

  it("allows every retry without settings", () => {
    const budget = new RetryBudget(undefined);
    expect(Array.from({ length: 100 }, () => budget.tryRetry()).every(Boolean)).toBe(true);
  });
});

describe("HandshakeWindow", () => {
  it("answers nearest-rank percentiles of the most recent samples", () => {
    const window = new HandshakeWindow(100, 1);
    expect(window.percentile(50)).toBeUndefined();
    for (let ms = 1; ms <= 100; ms++) window.record(ms);
    expect(window.percentile(50)).toBe(50);
    expect(window.percentile(95)).toBe(95);
    expect(window.percentile(100)).toBe(100);
    // Older samples fall out of a full window.
    for (let i = 0; i < 100; i++) window.record(1_000);
    expect(window.percentile(1)).toBe(1_000);
  });
});

describe("PinnedPlan", () => {
  it("tries the pinned node first, then the service's plan without it", () => {
    const inner = new RotationPlan(0, () => ["a", "b", "c"]);
    const plan = new PinnedPlan("b", inner);
    expect(plan.hasNext()).toBe(true);
    expect(plan.triedNodes).toEqual([]);
    const order = [plan.next(), plan.next(), plan.next()];
    expect(order[0]).toBe("b");
    expect(new Set(order)).toEqual(new Set(["a", "b", "c"]));
    expect(plan.next()).toBeUndefined();
    expect(plan.hasNext()).toBe(false);
    expect(plan.triedNodes[0]).toBe("b");
  });
});

describe("underBoundedLoad", () => {
  const loads = (map: Record<string, number>) => (id: string) => map[id] ?? 0;

  it("gives an idle node room, and none past 1.25 times its share of the mean, rounded up", () => {
    const round = ["a", "b", "c"];
    expect(underBoundedLoad("a", round, loads({}), 1.25)).toBe(true);
    // One in flight at a: 1.25 × 2 / 3 rounds up to 1, which a second request would pass.
    expect(underBoundedLoad("a", round, loads({ a: 1 }), 1.25)).toBe(false);
    expect(underBoundedLoad("b", round, loads({ a: 1 }), 1.25)).toBe(true);
    // 12 in flight, 4 each: a fifth at a stays within 1.25 × 13 / 3 = 5.4, rounded up to 6.
    expect(underBoundedLoad("a", round, loads({ a: 5, b: 4, c: 3 }), 1.25)).toBe(true);
    expect(underBoundedLoad("a", round, loads({ a: 6, b: 4, c: 2 }), 1.25)).toBe(false);
  });

  it("weighs a node by its places in the round, and gives one outside it no room", () => {
    // a has weight 2 of 3: its share of 1.25 × 3 is 2.5, rounded up to 3.
    expect(underBoundedLoad("a", ["a", "a", "b"], loads({ a: 2 }), 1.25)).toBe(true);
    // Two in flight: b's share of 1.25 × 3 is 1.25, rounded up to 2, which a third would pass.
    expect(underBoundedLoad("b", ["a", "a", "b"], loads({ a: 1, b: 1 }), 1.25)).toBe(true);
    expect(underBoundedLoad("b", ["a", "a", "b"], loads({ b: 2 }), 1.25)).toBe(false);
    expect(underBoundedLoad("z", ["a", "b"], loads({}), 1.25)).toBe(false);
  });
});
