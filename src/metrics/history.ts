import {
  type Counts,
  type DispatchMetrics,
  HANDSHAKE_BUCKETS_S,
  type HistogramCounts,
} from "./dispatch-metrics.ts";

/** Width of one step of the recent history. */
export const STEP_MS = 10_000;
/** Steps kept: five minutes. */
export const STEPS = 30;

/** Requests and handshake times that arrived within one step, by node. */
export interface HistoryStep {
  /** Start of the step (ms since epoch). */
  readonly at: number;
  readonly requests: Counts;
  readonly handshakes: Record<string, HistogramCounts>;
  /** Attempts, and those that counted against their node, by node. */
  readonly attempts: Record<string, number>;
  readonly failures: Record<string, number>;
}

/**
 * Adds a shipment to the step it arrived in, opening a new step when due and dropping the oldest
 * past STEPS. Shipments arrive about once a second per isolate, so a count lands at most that
 * late in the history.
 */
export function addToHistory(history: HistoryStep[], counts: DispatchMetrics, now: number): void {
  const at = now - (now % STEP_MS);
  let step = history.at(-1);
  if (!step || step.at !== at) {
    step = { at, requests: {}, handshakes: {}, attempts: {}, failures: {} };
    history.push(step);
    while (history.length > STEPS) history.shift();
  }
  for (const [node, byClass] of Object.entries(counts.requests)) {
    const held = step.requests[node] ?? {};
    for (const [cls, n] of Object.entries(byClass)) held[cls] = (held[cls] ?? 0) + n;
    step.requests[node] = held;
  }
  for (const [node, byOutcome] of Object.entries(counts.attempts)) {
    const n = Object.values(byOutcome).reduce((a, b) => a + b, 0);
    step.attempts[node] = (step.attempts[node] ?? 0) + n;
  }
  for (const [node, n] of Object.entries(counts.failures)) {
    step.failures[node] = (step.failures[node] ?? 0) + n;
  }
  for (const [node, h] of Object.entries(counts.handshakes)) {
    const held = step.handshakes[node] ?? { buckets: h.buckets.map(() => 0), sum: 0, count: 0 };
    h.buckets.forEach((n, i) => {
      held.buckets[i] = (held.buckets[i] ?? 0) + n;
    });
    held.sum += h.sum;
    held.count += h.count;
    step.handshakes[node] = held;
  }
}

/** What the dashboard shows of a node, or of a service, over a window of the history. */
export interface RecentFigures {
  /** Client requests per second (for a node: those it answered). */
  readonly perSecond: number;
  /** For a service, the share of requests answered 5xx; for a node, of its attempts that failed. */
  readonly errorRate: number;
  /** Handshake percentiles in ms, as the upper bound of the bucket they fall in; null with no data. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** The figures of `node` (or of every node) over the steps since `since`. */
export function recentFigures(
  history: readonly HistoryStep[],
  since: number,
  now: number,
  node?: string,
): RecentFigures {
  const steps = history.filter((s) => s.at + STEP_MS > since);
  let total = 0;
  let failed = 0;
  let attempts = 0;
  let attemptFailures = 0;
  const merged = HANDSHAKE_BUCKETS_S.map(() => 0).concat(0);
  for (const step of steps) {
    for (const [id, byClass] of Object.entries(step.requests)) {
      if (node !== undefined && id !== node) continue;
      for (const [cls, n] of Object.entries(byClass)) {
        total += n;
        if (cls === "5xx") failed += n;
      }
    }
    if (node !== undefined) {
      attempts += step.attempts?.[node] ?? 0;
      attemptFailures += step.failures?.[node] ?? 0;
    }
    for (const [id, h] of Object.entries(step.handshakes)) {
      if (node !== undefined && id !== node) continue;
      h.buckets.forEach((n, i) => {
        merged[i] = (merged[i] ?? 0) + n;
      });
    }
  }
  const seconds = Math.max(1, (now - since) / 1000);
  return {
    perSecond: total / seconds,
    errorRate:
      node === undefined
        ? total > 0
          ? failed / total
          : 0
        : attempts > 0
          ? attemptFailures / attempts
          : 0,
    p50Ms: quantileMs(merged, 0.5),
    p99Ms: quantileMs(merged, 0.99),
  };
}

/** The upper bound (ms) of the bucket holding quantile `q`; past the last bound, that bound. */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  const count = buckets.reduce((a, b) => a + b, 0);
  if (count === 0) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] ?? 0;
    if (seen >= q * count) {
      const bound = HANDSHAKE_BUCKETS_S[Math.min(i, HANDSHAKE_BUCKETS_S.length - 1)] as number;
      return bound * 1000;
    }
  }
  return (HANDSHAKE_BUCKETS_S.at(-1) as number) * 1000;
}
