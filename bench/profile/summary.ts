// Turns a V8 CPU profile (what the DevTools Profiler domain returns) into self time per function,
// heaviest first. Pure, so it is unit-tested without a runtime.

/** The parts of a DevTools `Profiler.Profile` the summary reads. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }>;
  /** Start and end, in microseconds. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node on top of the stack at each sample. */
  readonly samples?: readonly number[];
  /** Microseconds since the previous sample, one per sample. */
  readonly timeDeltas?: readonly number[];
}

/** Self time of one function (all nodes with the same name and place added up). */
export interface FunctionCost {
  /** `name (file:line)`, or the runtime's own bucket such as `(garbage collector)`. */
  readonly label: string;
  readonly selfMs: number;
  /** Share of the sampled time that was not idle. */
  readonly share: number;
}

export interface ProfileSummary {
  /** Time covered by the samples. */
  readonly sampledMs: number;
  /** Of that, time the isolate ran anything (not `(idle)`). */
  readonly busyMs: number;
  readonly functions: readonly FunctionCost[];
}

const IDLE = "(idle)";

/** Self time per function, heaviest first, as shares of the isolate's busy time. */
export function summarise(profile: CpuProfile): ProfileSummary {
  const labels = new Map<number, string>();
  for (const node of profile.nodes) labels.set(node.id, labelOf(node.callFrame));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfUs = new Map<string, number>();
  // A sample's delta is the time since the one before, so sample i is charged the gap up to i + 1.
  for (let i = 0; i < samples.length; i++) {
    const label = labels.get(samples[i] as number) ?? "(unknown)";
    const us = deltas[i + 1] ?? 0;
    selfUs.set(label, (selfUs.get(label) ?? 0) + us);
  }
  let sampledUs = 0;
  for (const us of selfUs.values()) sampledUs += us;
  const busyUs = sampledUs - (selfUs.get(IDLE) ?? 0);
  const functions = [...selfUs]
    .filter(([label]) => label !== IDLE)
    .map(([label, us]) => ({ label, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { sampledMs: sampledUs / 1000, busyMs: busyUs / 1000, functions };
}

function labelOf(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  const file = frame.url.slice(frame.url.lastIndexOf("/") + 1);
  // DevTools line numbers count from 0.
  return `${name} (${file}:${frame.lineNumber + 1})`;
}
