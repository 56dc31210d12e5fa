import { describe, expect, it } from "vitest";
import {
  type LatencyOutlierPolicy,
  latencyOutliers,
  recordLatency,
} from "../../src/balancer/latency-outlier.ts";

describe("latency outliers", () => {
  const policy: LatencyOutlierPolicy = { factor: 3, minSamples: 3, ejectMs: 1_000, floorMs: 50 };
  const stats = (entries: Record<string, number[]>) =>
    new Map(
      Object.entries(entries).map(([id, samples]) => [
        id,
        samples.reduce<ReturnType<typeof recordLatency> | undefined>(
          (s, ms) => recordLatency(s, ms),
          undefined,
        )!,
      ]),
    );

  it("flags a node far slower than the median of its peers", () => {
    expect(
      latencyOutliers(stats({ a: [5, 6, 5], b: [4, 5, 6], slow: [300, 310, 290] }), policy, 1),
    ).toEqual(["slow"]);
  });

  it("ignores nodes with too few samples, small absolute latencies, and uniform slowness", () => {
    expect(latencyOutliers(stats({ a: [5, 5, 5], slow: [300, 300] }), policy, 1)).toEqual([]);
    expect(latencyOutliers(stats({ a: [1, 1, 1], b: [40, 40, 40] }), policy, 1)).toEqual([]);
    expect(latencyOutliers(stats({ a: [400, 400, 400], b: [420, 410, 400] }), policy, 1)).toEqual(
      [],
    );
  });

  it("respects the allowance, worst first", () => {
    const s = stats({
      a: [5, 5, 5],
      b: [5, 5, 5],
      c: [5, 5, 5],
      x: [200, 200, 200],
      y: [900, 900, 900],
    });
    expect(latencyOutliers(s, policy, 1)).toEqual(["y"]);
    expect(latencyOutliers(s, policy, 0)).toEqual([]);
  });
});
