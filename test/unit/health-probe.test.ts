import { describe, expect, it } from "vitest";
import { type ProbeThresholds, recordProbe, unprobed } from "../../src/balancer/health-probe.ts";

describe("health probes", () => {
  const t: ProbeThresholds = { healthyThreshold: 2, unhealthyThreshold: 3 };
  it("flips only after a full run of contrary probes", () => {
    let state = unprobed(0);
    const seen: boolean[] = [];
    for (const passed of [false, false, true, false, false, false, true, true]) {
      state = recordProbe(state, passed, t, 1);
      seen.push(state.healthy);
    }
    expect(seen).toEqual([true, true, true, true, true, false, false, true]);
  });
});
