/** Passive outlier ejection settings of a service. */
export interface EjectionPolicy {
  /** Consecutive failures (network error, timeout, 5xx) that eject a node. */
  readonly consecutiveFailures: number;
  /** Ejection time of a first ejection; the n-th ejection in a row lasts n times this. */
  readonly baseMs: number;
  /** Longest one ejection lasts. */
  readonly maxMs: number;
  /** Largest share of a service's nodes ejected at once. */
  readonly maxEjectedShare: number;
}

/** What a node's gate remembers about its health; persisted so a restart keeps ejections. */
export interface HealthState {
  /** Failures since the last success. */
  readonly streak: number;
  /** Ejected until this time (ms since epoch); 0 when not ejected. */
  readonly ejectedUntil: number;
  /** Ejections in a row, which lengthen the next one. */
  readonly ejections: number;
  /** When the last ejection ended or the last success after one was seen, for decay. */
  readonly lastEjectionAt: number;
}

export const HEALTHY: HealthState = { streak: 0, ejectedUntil: 0, ejections: 0, lastEjectionAt: 0 };

/** True while the node must not take traffic. */
export function isEjected(state: HealthState, now: number): boolean {
  return state.ejectedUntil > now;
}

/** State after a success: the streak ends; the ejection count decays once a full maximum passes. */
export function recordSuccess(
  state: HealthState,
  now: number,
  policy: EjectionPolicy,
): HealthState {
  const decayed = state.ejections > 0 && now - state.lastEjectionAt >= policy.maxMs;
  if (state.streak === 0 && !decayed) return state;
  return { ...state, streak: 0, ejections: decayed ? 0 : state.ejections };
}

/** State after a failure, and whether the streak now calls for an ejection. */
export function recordFailure(
  state: HealthState,
  policy: EjectionPolicy,
): { state: HealthState; wantsEjection: boolean } {
  const streak = state.streak + 1;
  return { state: { ...state, streak }, wantsEjection: streak >= policy.consecutiveFailures };
}

/** State once an ejection was granted: the node is out for a time that grows with repetition. */
export function eject(state: HealthState, now: number, policy: EjectionPolicy): HealthState {
  const ejections = state.ejections + 1;
  const duration = Math.min(policy.maxMs, policy.baseMs * ejections);
  return { streak: 0, ejectedUntil: now + duration, ejections, lastEjectionAt: now };
}

/**
 * How many of `total` nodes may be ejected at once. At least one when there are two or more nodes
 * and the share is above zero, so a small service can still shed a bad node (a plain 10% of three
 * nodes rounds down to none); none for a single node, since ejecting it only turns slow answers
 * into no answers; none when the share is zero, which turns ejection off.
 */
export function ejectionAllowance(total: number, maxShare: number): number {
  if (total < 2 || maxShare <= 0) return 0;
  return Math.max(1, Math.floor(total * maxShare));
}
