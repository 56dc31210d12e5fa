import { backoffDelay } from "../balancer/backoff.ts";
/** How one request to a peer ended. */
export type PeerOutcome =
  /** The connection failed or broke before a response. */
  | { readonly kind: "network-error" }
  /** No response within the per-request timeout. */
  | { readonly kind: "timeout" }
  /** The peer answered with this HTTP status. */
  | { readonly kind: "status"; readonly status: number }
  /** A 2xx answer that was too long or failed its signature check: never applied, not retried. */
  | { readonly kind: "bad-answer"; readonly detail: string };

/**
 * Whether trying again may help: the network, a timeout, 429 and 5xx are transient. Every other
 * 4xx (a bad signature, a rejected body, a 409 conflict) will fail the same way again, and 2xx/3xx
 * are not failures.
 */
export function isTransient(outcome: PeerOutcome): boolean {
  if (outcome.kind === "bad-answer") return false;
  if (outcome.kind !== "status") return true;
  return outcome.status === 429 || (outcome.status >= 500 && outcome.status <= 599);
}

/** How one push to one peer retries. */
export interface BackoffPolicy {
  /** Retries after the first request (sleeps between requests). */
  readonly steps: number;
  /** Sleep before the first retry, before jitter. */
  readonly baseMs: number;
  /** Growth of each sleep over the previous one. */
  readonly factor: number;
  /** Each sleep varies by up to this share either way (0.2: ±20%). */
  readonly jitter: number;
  /** Time one request may take. */
  readonly perRequestTimeoutMs: number;
  /** Time all requests and sleeps to one peer may take together. */
  readonly peerDeadlineMs: number;
}

/**
 * Defaults: total sleep at most (10 + 20 + 40) × 1.2 = 84 ms, below one request's timeout, so
 * retrying never costs more than a single slow request could.
 */
export const DEFAULT_BACKOFF_POLICY: BackoffPolicy = {
  steps: 3,
  baseMs: 10,
  factor: 2,
  jitter: 0.2,
  perRequestTimeoutMs: 100,
  peerDeadlineMs: 300,
};

/** Sleep before retry `step` (0 for the first), with `random()` in [0, 1) choosing the jitter. */
function pushRetryDelay(policy: BackoffPolicy, step: number, random: () => number): number {
  const { baseMs, factor, jitter } = policy;
  return backoffDelay({ baseMs, factor, jitter: { kind: "spread", share: jitter } }, step, random);
}

/** The sleeps before each retry, in order. */
export function backoffDelays(policy: BackoffPolicy, random: () => number = Math.random): number[] {
  return Array.from({ length: policy.steps }, (_, step) => pushRetryDelay(policy, step, random));
}

/** The most all sleeps can add up to, every jitter at its maximum. */
export function maxTotalSleepMs(policy: BackoffPolicy): number {
  let nominal = 0;
  for (let step = 0; step < policy.steps; step++) nominal += policy.baseMs * policy.factor ** step;
  return nominal * (1 + policy.jitter);
}

/** The outcome of checking a policy: usable, or every reason it is not. */
export type PolicyCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly problems: string[] };

/**
 * Rejects a policy whose retries could outlast one request: the total sleep must be strictly
 * below the per-request timeout, so that a slow peer costs at most about one extra timeout.
 */
export function validateBackoffPolicy(policy: BackoffPolicy): PolicyCheck {
  const problems: string[] = [];
  if (!Number.isInteger(policy.steps) || policy.steps < 0 || policy.steps > 10) {
    problems.push("steps must be an integer in 0..10");
  }
  if (!(Number.isFinite(policy.baseMs) && policy.baseMs >= 0)) {
    problems.push("baseMs must be finite and non-negative");
  }
  if (!(Number.isFinite(policy.factor) && policy.factor >= 1)) {
    problems.push("factor must be finite and at least 1");
  }
  if (!(policy.jitter >= 0 && policy.jitter < 1)) problems.push("jitter must be in [0, 1)");
  if (!(Number.isFinite(policy.perRequestTimeoutMs) && policy.perRequestTimeoutMs > 0)) {
    problems.push("perRequestTimeoutMs must be positive");
  }
  if (!(policy.peerDeadlineMs >= policy.perRequestTimeoutMs)) {
    problems.push("peerDeadlineMs must allow at least one full request");
  }
  if (problems.length === 0 && !(maxTotalSleepMs(policy) < policy.perRequestTimeoutMs)) {
    problems.push(
      `max total sleep ${maxTotalSleepMs(policy)} ms is not below the per-request timeout ` +
        `${policy.perRequestTimeoutMs} ms`,
    );
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}

/**
 * Sleep before the next request to a peer, or undefined to stop: the outcome is not transient,
 * the retries are used up, or sleeping would reach the peer's deadline. `retriesDone` counts
 * retries already made; `elapsedMs` is time spent on this peer so far.
 */
export function nextRetryDelay(
  outcome: PeerOutcome,
  retriesDone: number,
  elapsedMs: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (!isTransient(outcome) || retriesDone >= policy.steps) return undefined;
  const delay = pushRetryDelay(policy, retriesDone, random);
  return elapsedMs + delay < policy.peerDeadlineMs ? delay : undefined;
}

/** Timeout for the next request: the per-request timeout, cut short by the peer's deadline. */
export function requestTimeoutMs(policy: BackoffPolicy, elapsedMs: number): number {
  return Math.max(0, Math.min(policy.perRequestTimeoutMs, policy.peerDeadlineMs - elapsedMs));
}
