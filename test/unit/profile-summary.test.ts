import { describe, expect, it } from "vitest";
import { type CpuProfile, summarise } from "../../bench/profile/summary.ts";

const frame = (functionName: string, url = "", lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)") },
    { id: 2, callFrame: frame("(idle)") },
    { id: 3, callFrame: frame("dispatch", "file:///tmp/bundle/index.js", 41) },
    { id: 4, callFrame: frame("", "file:///tmp/bundle/index.js", 9) },
    { id: 5, callFrame: frame("dispatch", "file:///tmp/bundle/index.js", 41) },
  ],
  startTime: 0,
  endTime: 1_000,
  // Sample i is charged timeDeltas[i + 1]: dispatch 300 + 100, idle 500, the anonymous one 100.
  samples: [3, 2, 4, 5, 2],
  timeDeltas: [0, 300, 500, 100, 100],
};

describe("summarise", () => {
  it("charges each sample the time to the next, adds nodes of one function, and leaves idle out", () => {
    const summary = summarise(profile);
    expect(summary.sampledMs).toBeCloseTo(1.0);
    expect(summary.busyMs).toBeCloseTo(0.5);
    expect(summary.functions.map((f) => f.label)).toEqual([
      "dispatch (index.js:42)",
      "(anonymous) (index.js:10)",
    ]);
    expect(summary.functions[0]!.selfMs).toBeCloseTo(0.4);
    expect(summary.functions[0]!.share).toBeCloseTo(0.8);
  });

  it("answers an empty summary for a profile without samples", () => {
    const summary = summarise({ nodes: [], startTime: 0, endTime: 0 });
    expect(summary).toEqual({ sampledMs: 0, busyMs: 0, functions: [] });
  });
});
