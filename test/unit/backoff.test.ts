import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Backoff, backoffDelay, type Jitter } from "../../src/balancer/backoff.ts";

// The one backoff: exponential from a base, capped, with a named jitter.

const jitters: Jitter[] = [
  { kind: "full" },
  { kind: "half" },
  { kind: "spread", share: 0.2 },
  { kind: "shave", share: 0.2 },
];

/** The range a jitter kind keeps a sleep of `nominal` in. */
function range(jitter: Jitter, nominal: number): [number, number] {
  switch (jitter.kind) {
    case "full":
      return [0, nominal];
    case "half":
      return [nominal / 2, nominal];
    case "spread":
      return [nominal * (1 - jitter.share), nominal * (1 + jitter.share)];
    case "shave":
      return [nominal * (1 - jitter.share), nominal];
  }
}

describe("backoffDelay", () => {
  it("grows by the factor up to the cap, and stays in its jitter's range", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        fc.constantFrom(...jitters),
        (baseMs, capMs, step, r, jitter) => {
          const backoff: Backoff = { baseMs, capMs, factor: 2, jitter };
          const nominal = Math.min(capMs, baseMs * 2 ** Math.min(step, 40));
          const [low, high] = range(jitter, nominal);
          const delay = backoffDelay(backoff, step, () => r);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(low) - 1);
          expect(delay).toBeLessThanOrEqual(Math.ceil(high));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("has no cap unless given one, and takes its factor", () => {
    const spread: Backoff = { baseMs: 10, factor: 3, jitter: { kind: "spread", share: 0 } };
    expect([0, 1, 2].map((step) => backoffDelay(spread, step, () => 0.5))).toEqual([10, 30, 90]);
    expect(backoffDelay({ baseMs: 100, capMs: 250, jitter: { kind: "half" } }, 5, () => 1)).toBe(
      250,
    );
  });
});
