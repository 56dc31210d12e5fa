import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BackoffPolicy,
  backoffDelays,
  DEFAULT_BACKOFF_POLICY,
  isTransient,
  maxTotalSleepMs,
  nextRetryDelay,
  type PeerOutcome,
  requestTimeoutMs,
  validateBackoffPolicy,
} from "../../src/sync/retry-policy.ts";

const status = (code: number): PeerOutcome => ({ kind: "status", status: code });

describe("isTransient", () => {
  it.each<[string, PeerOutcome, boolean]>([
    ["network error", { kind: "network-error" }, true],
    ["timeout", { kind: "timeout" }, true],
    ["200", status(200), false],
    ["204", status(204), false],
    ["301", status(301), false],
    ["400", status(400), false],
    ["401", status(401), false],
    ["404", status(404), false],
    ["409", status(409), false],
    ["422", status(422), false],
    ["429", status(429), true],
    ["500", status(500), true],
    ["502", status(502), true],
    ["503", status(503), true],
    ["504", status(504), true],
  ])("%s → %s", (_, outcome, expected) => {
    expect(isTransient(outcome)).toBe(expected);
  });

  it("retries no 4xx but 429", () => {
    for (let code = 400; code < 500; code++) expect(isTransient(status(code))).toBe(code === 429);
  });
});

describe("backoff policy", () => {
  it("defaults to 3 steps from 10 ms doubling with ±20% jitter, 100 ms timeout, 300 ms deadline", () => {
    expect(DEFAULT_BACKOFF_POLICY).toEqual({
      steps: 3,
      baseMs: 10,
      factor: 2,
      jitter: 0.2,
      perRequestTimeoutMs: 100,
      peerDeadlineMs: 300,
    });
  });

  it("keeps the defaults' worst-case total sleep (84 ms) below the per-request timeout", () => {
    expect(maxTotalSleepMs(DEFAULT_BACKOFF_POLICY)).toBeCloseTo(84, 9);
    expect(maxTotalSleepMs(DEFAULT_BACKOFF_POLICY)).toBeLessThan(100);
    expect(validateBackoffPolicy(DEFAULT_BACKOFF_POLICY)).toEqual({ ok: true });
  });

  it("spreads sleeps around the nominal 10, 20, 40 ms", () => {
    expect(backoffDelays(DEFAULT_BACKOFF_POLICY, () => 0.5)).toEqual([10, 20, 40]);
    expect(backoffDelays(DEFAULT_BACKOFF_POLICY, () => 0)).toEqual([8, 16, 32]);
    expect(backoffDelays(DEFAULT_BACKOFF_POLICY, () => 0.999_999)).toEqual([11, 23, 47]);
  });

  it("rejects the reference system's policy: 10 × 10 ms sleeps against a 100 ms timeout", () => {
    const reference: BackoffPolicy = {
      steps: 10,
      baseMs: 10,
      factor: 1,
      jitter: 0,
      perRequestTimeoutMs: 100,
      peerDeadlineMs: 1_000,
    };
    const check = validateBackoffPolicy(reference);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems.join()).toMatch(/not below the per-request timeout/);
  });

  it.each<[string, Partial<BackoffPolicy>]>([
    ["negative steps", { steps: -1 }],
    ["fractional steps", { steps: 1.5 }],
    ["shrinking factor", { factor: 0.5 }],
    ["jitter of 100%", { jitter: 1 }],
    ["NaN jitter", { jitter: Number.NaN }],
    ["zero timeout", { perRequestTimeoutMs: 0 }],
    ["deadline shorter than one request", { peerDeadlineMs: 99 }],
    ["sleep equal to the timeout", { steps: 5, baseMs: 20, factor: 1, jitter: 0 }],
  ])("rejects %s", (_, change) => {
    expect(validateBackoffPolicy({ ...DEFAULT_BACKOFF_POLICY, ...change }).ok).toBe(false);
  });

  const policyArb: fc.Arbitrary<BackoffPolicy> = fc.record({
    steps: fc.integer({ min: 0, max: 10 }),
    baseMs: fc.integer({ min: 0, max: 200 }),
    factor: fc.double({ min: 1, max: 4, noNaN: true }),
    jitter: fc.double({ min: 0, max: 0.99, noNaN: true }),
    perRequestTimeoutMs: fc.integer({ min: 1, max: 2_000 }),
    peerDeadlineMs: fc.integer({ min: 1, max: 10_000 }),
  });

  it("never sleeps longer in total than one request may take, for any valid policy", () => {
    fc.assert(
      fc.property(
        policyArb.filter((p) => validateBackoffPolicy(p).ok),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 10,
          maxLength: 10,
        }),
        (policy, randoms) => {
          let i = 0;
          const delays = backoffDelays(policy, () => randoms[i++]!);
          expect(delays).toHaveLength(policy.steps);
          for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(0);
          const total = delays.reduce((sum, d) => sum + d, 0);
          expect(total).toBeLessThanOrEqual(maxTotalSleepMs(policy));
          expect(total).toBeLessThan(policy.perRequestTimeoutMs);
        },
      ),
    );
  });

  it("validates exactly the policies whose worst case fits", () => {
    fc.assert(
      fc.property(policyArb, (policy) => {
        const fits =
          maxTotalSleepMs(policy) < policy.perRequestTimeoutMs &&
          policy.peerDeadlineMs >= policy.perRequestTimeoutMs;
        expect(validateBackoffPolicy(policy).ok).toBe(fits);
      }),
    );
  });
});

describe("nextRetryDelay", () => {
  const policy = DEFAULT_BACKOFF_POLICY;
  const half = () => 0.5;

  it("retries transient failures up to the step count", () => {
    expect(nextRetryDelay({ kind: "timeout" }, 0, 100, policy, half)).toBe(10);
    expect(nextRetryDelay(status(503), 1, 120, policy, half)).toBe(20);
    expect(nextRetryDelay(status(429), 2, 150, policy, half)).toBe(40);
    expect(nextRetryDelay(status(503), 3, 200, policy, half)).toBeUndefined();
  });

  it("never retries a permanent failure", () => {
    expect(nextRetryDelay(status(409), 0, 0, policy, half)).toBeUndefined();
    expect(nextRetryDelay(status(401), 0, 0, policy, half)).toBeUndefined();
  });

  it("stops at the peer's deadline and shortens the last request to fit it", () => {
    expect(nextRetryDelay({ kind: "network-error" }, 0, 290, policy, half)).toBeUndefined();
    expect(nextRetryDelay({ kind: "network-error" }, 0, 289, policy, half)).toBe(10);
    expect(requestTimeoutMs(policy, 0)).toBe(100);
    expect(requestTimeoutMs(policy, 250)).toBe(50);
    expect(requestTimeoutMs(policy, 400)).toBe(0);
  });
});
