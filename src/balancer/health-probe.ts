/** Active health check thresholds. */
export interface ProbeThresholds {
  /** Passing probes in a row that make an unhealthy node healthy. */
  readonly healthyThreshold: number;
  /** Failing probes in a row that make a healthy node unhealthy. */
  readonly unhealthyThreshold: number;
}

/** What the probes have shown of one node. */
export interface ProbeState {
  readonly healthy: boolean;
  /** Passing (when unhealthy) or failing (when healthy) probes in a row. */
  readonly streak: number;
  /** When the node last changed state (ms since epoch); slow start counts from here. */
  readonly since: number;
}

/** A node nobody has probed yet counts as healthy, so discovery alone can route to it. */
export function unprobed(now: number): ProbeState {
  return { healthy: true, streak: 0, since: now };
}

/** The state after one probe; it flips only after a full run of contrary probes. */
export function recordProbe(
  state: ProbeState,
  passed: boolean,
  thresholds: ProbeThresholds,
  now: number,
): ProbeState {
  if (passed === state.healthy) return state.streak === 0 ? state : { ...state, streak: 0 };
  const streak = state.streak + 1;
  const needed = state.healthy ? thresholds.unhealthyThreshold : thresholds.healthyThreshold;
  if (streak < needed) return { ...state, streak };
  return { healthy: passed, streak: 0, since: now };
}
