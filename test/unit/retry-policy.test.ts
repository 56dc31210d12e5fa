import { describe, expect, it } from "vitest";
import {
  type AttemptOutcome,
  backoffMs,
  type RetryPolicy,
  shouldRetry,
} from "../../src/balancer/retry-policy.ts";

const policy: RetryPolicy = {
  maxAttempts: 3,
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  retryOnStatus: [502, 503, 504],
};

const get = { method: "GET", hasIdempotencyKey: false, replayable: true };
const post = { method: "POST", hasIdempotencyKey: false, replayable: true };
const keyedPost = { method: "POST", hasIdempotencyKey: true, replayable: true };
const bigGet = { method: "GET", hasIdempotencyKey: false, replayable: false };

const response = (status: number): AttemptOutcome => ({ kind: "response", status });

describe("shouldRetry", () => {
  it.each([
    ["not sent, GET", { kind: "not-sent" }, get, true],
    ["not sent, POST", { kind: "not-sent" }, post, true],
    ["not sent, unreplayable", { kind: "not-sent" }, bigGet, true],
    ["network error, GET", { kind: "network-error" }, get, true],
    ["network error, POST", { kind: "network-error" }, post, false],
    ["network error, POST with key", { kind: "network-error" }, keyedPost, true],
    ["timeout, GET", { kind: "timeout" }, get, true],
    ["timeout, POST", { kind: "timeout" }, post, false],
    ["503, GET", response(503), get, true],
    ["502, PUT", response(502), { ...get, method: "PUT" }, true],
    ["504, DELETE", response(504), { ...get, method: "DELETE" }, true],
    ["503, POST", response(503), post, false],
    ["503, PATCH with key", response(503), { ...keyedPost, method: "PATCH" }, true],
    ["500, GET (not listed)", response(500), get, false],
    ["404, GET", response(404), get, false],
    ["200, GET", response(200), get, false],
    ["503, body too big to replay", response(503), bigGet, false],
    ["network error, body too big", { kind: "network-error" }, bigGet, false],
  ] as const)("%s → %s", (_name, outcome, request, expected) => {
    expect(shouldRetry(outcome as AttemptOutcome, request, policy)).toBe(expected);
  });
});

describe("backoffMs", () => {
  it("grows exponentially from the base up to the cap", () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6].map((r) => backoffMs(r, policy, top))).toEqual([
      24, 49, 99, 199, 249, 249,
    ]);
  });

  it("is fully jittered: anywhere from zero to the ceiling", () => {
    expect(backoffMs(3, policy, () => 0)).toBe(0);
    expect(backoffMs(3, policy, () => 0.5)).toBe(50);
  });
});
