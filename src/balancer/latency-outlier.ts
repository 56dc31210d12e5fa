/** Latency-aware outlier ejection settings. */
export interface LatencyOutlierPolicy {
  /** A node is an outlier when its latency average exceeds this multiple of the service median. */
  readonly factor: number;
  /** Samples a node needs before it can be judged. */
  readonly minSamples: number;
  /** How long an outlier stays out. */
  readonly ejectMs: number;
  /** Latencies under this never count as outlying, so fast services do not eject on noise. */
  readonly floorMs: number;
}

/** Running handshake latency of one node: an exponentially weighted moving average. */
export interface LatencyStats {
  readonly ewmaMs: number;
  readonly samples: number;
}

// Weight of a new sample: about the last 10 requests dominate, so the average follows a node
// that turns slow within a second or two of traffic, and forgets it as fast once it recovers.
const ALPHA = 0.2;

/** The average after one more handshake of `latencyMs`. */
export function recordLatency(stats: LatencyStats | undefined, latencyMs: number): LatencyStats {
  if (!stats) return { ewmaMs: latencyMs, samples: 1 };
  return { ewmaMs: stats.ewmaMs + ALPHA * (latencyMs - stats.ewmaMs), samples: stats.samples + 1 };
}

/**
 * Nodes whose average handshake latency is an outlier against the median of their peers, worst
 * first, at most `allowance` of them (the same share cap as passive ejection). Comparing with the
 * peers rather than a fixed limit keeps a uniformly slow backend from being emptied.
 */
export function latencyOutliers(
  stats: ReadonlyMap<string, LatencyStats>,
  policy: LatencyOutlierPolicy,
  allowance: number,
): string[] {
  const judged = [...stats].filter(([, s]) => s.samples >= policy.minSamples);
  if (judged.length < 2 || allowance <= 0) return [];
  const sorted = judged.map(([, s]) => s.ewmaMs).sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as number;
  const limit = Math.max(policy.floorMs, median * policy.factor);
  return judged
    .filter(([, s]) => s.ewmaMs > limit)
    .sort((a, b) => b[1].ewmaMs - a[1].ewmaMs)
    .slice(0, allowance)
    .map(([id]) => id);
}
