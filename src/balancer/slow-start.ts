/** Share of traffic a node gets at the very start of its slow start (Envoy's minimum is 10%). */
const SLOW_START_FLOOR = 0.1;

/**
 * How far a node that returned to rotation at `since` has ramped up: from the floor to 1 over
 * `windowMs`, linearly. A node that has been in rotation longer than the window takes a full share.
 */
export function slowStartShare(since: number, now: number, windowMs: number): number {
  if (windowMs <= 0 || now - since >= windowMs) return 1;
  const progress = Math.max(0, now - since) / windowMs;
  return SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * progress;
}
