import { backoffDelay } from "../balancer/backoff.ts";

/** Reconnect delay policy. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs?: number;
  /** Upper bound of any delay, in ms. */
  maxMs?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter in
 * [half, full] so that many gates losing one node do not reconnect in lockstep.
 */
export function reconnectDelay(
  attempt: number,
  options: BackoffOptions,
  random = Math.random,
): number {
  const backoff = {
    baseMs: options.initialMs ?? 50,
    capMs: options.maxMs ?? 5_000,
    jitter: { kind: "half" } as const,
  };
  return backoffDelay(backoff, attempt, random);
}
