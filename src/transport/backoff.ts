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
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random = Math.random,
): number {
  const initial = options.initialMs ?? 50;
  const max = options.maxMs ?? 5_000;
  const full = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}
