// The two suites of `npm run bench`: smoke (every benchmark in seconds, through the same code and
// the same JSON schemas, run by CI) and all (every benchmark in the configuration its figures in
// docs/benchmarks.md were measured in).
import type { SuiteEntry } from "./suite.ts";
import { findBinary } from "./versus/binaries.ts";
import { SYSTEM_NAMES } from "./versus/systems.ts";

/** The versus systems that need a peer proxy installed; CI may lack them. */
const NEEDS_BINARY: Readonly<Record<string, string>> = {
  nginx: "nginx",
  "nginx-tuned": "nginx",
  haproxy: "haproxy",
};

/**
 * Versus catches a system that fails and records it under `skipped`, so that one broken proxy
 * does not end a ten-minute run; in a suite a missing row is a failure, unless its proxy is not
 * installed on this machine.
 */
export function versusRowsPresent(results: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const [file, json] of Object.entries(results)) {
    const result = json as {
      settings: { systems: string[]; scenarios: string[] };
      scenarios: Record<string, Record<string, unknown> | undefined>;
      skipped: Record<string, string>;
    };
    for (const scenario of result.settings.scenarios) {
      for (const system of result.settings.systems) {
        const binary = NEEDS_BINARY[system];
        if (binary && !findBinary(binary)) continue;
        if (result.scenarios[scenario]?.[system]) continue;
        const why = result.skipped[`${scenario}/${system}`] ?? result.skipped[system] ?? "no row";
        problems.push(`${file}.json: ${scenario} / ${system} missing: ${why}`);
      }
    }
  }
  return problems;
}

/** What a benchmark writes when its results file is named after it. */
const writes = (kind: SuiteEntry["writes"][number]["kind"], file: string = kind) => [
  { file, kind },
];

/** The node libraries the stream benchmark measures beside the reference node. */
const LIBRARIES = "typescript,python";

const ROUNDHOUSE_ROWS = [
  "roundhouse",
  "roundhouse-workerd",
  "roundhouse-lor",
  "roundhouse-outlier",
  "roundhouse-gate-path",
  "workerd-floor",
];

/**
 * Every benchmark, each for a few seconds: durations, counts and rounds cut down, the code paths
 * and the JSON the same as in a documented run. Results go to bench/results/smoke/.
 */
export const SMOKE: readonly SuiteEntry[] = [
  {
    bench: "dispatch",
    // Fewer clients and a shorter handshake: at the documented 64 and 100 ms, a run ends only once
    // the 64 requests queued at the global lock have drained, 6.4 s whatever the duration.
    argv: [
      ...["--handshake-ms", "20", "--concurrency", "8"],
      ...["--duration-ms", "500", "--warmup-ms", "200"],
    ],
    writes: writes("dispatch"),
  },
  {
    bench: "failover",
    argv: [
      ...["--idle-ms", "2000", "--idle-window-ms", "2000", "--warmup-ms", "500"],
      ...["--kill-after-ms", "1000", "--window-ms", "3000", "--outage-window-ms", "3000"],
      ...["--outage-stage-ms", "1000"],
    ],
    writes: writes("failover"),
  },
  {
    bench: "leases",
    argv: ["--duration-ms", "500", "--warmup-ms", "200", "--ceiling-ms", "500"],
    writes: writes("leases"),
  },
  {
    bench: "peers-sync",
    // 21 peers at least: the twenty-hung phase needs a healthy one beside them.
    argv: [
      ...["--peers", "24", "--calls", "30", "--rounds", "3", "--warmup-calls", "10"],
      ...["--converge-probes", "3", "--recover-timeout-ms", "60000"],
    ],
    writes: writes("peer-sync"),
  },
  {
    bench: "policies",
    argv: ["--duration-ms", "500", "--rounds", "1"],
    writes: writes("policies"),
  },
  {
    bench: "profile",
    argv: ["--duration", "2", "--warmup", "1"],
    writes: writes("profile"),
  },
  {
    bench: "stream",
    argv: ["--count", "500", "--repeats", "1", "--duration-ms", "1000", "--node", LIBRARIES],
    writes: writes("stream"),
  },
  {
    bench: "versus",
    // Every system once, healthy; the floor ratio is computed from this run.
    argv: [
      ...["--systems", ["direct", "nginx", "nginx-tuned", "haproxy", ...ROUNDHOUSE_ROWS].join(",")],
      ...["--scenarios", "healthy", "--duration", "1", "--warmup", "0"],
    ],
    writes: writes("versus"),
    check: versusRowsPresent,
  },
  {
    bench: "versus",
    label: "versus faults",
    // Every fault's code path (before start, at run start, mid-run) through the gateway, and
    // through a proxy where one is installed.
    argv: [
      ...["--systems", "nginx,roundhouse-workerd", "--duration", "2", "--warmup", "0"],
      ...["--scenarios", "dead-node,killed-node,slow-node,flapping-node", "--out", "versus-faults"],
    ],
    writes: writes("versus", "versus-faults"),
    check: versusRowsPresent,
  },
];

/** Every figure of docs/benchmarks.md, each run as the docs say it was measured. */
export const ALL: readonly SuiteEntry[] = [
  { bench: "dispatch", argv: [], writes: writes("dispatch") },
  { bench: "leases", argv: [], writes: writes("leases") },
  { bench: "policies", argv: [], writes: writes("policies") },
  { bench: "failover", argv: [], writes: writes("failover") },
  { bench: "peers-sync", argv: [], writes: writes("peer-sync") },
  { bench: "stream", argv: ["--node", LIBRARIES], writes: writes("stream") },
  { bench: "profile", argv: [], writes: writes("profile") },
  {
    bench: "profile",
    label: "profile --floor",
    argv: ["--floor"],
    writes: writes("profile", "profile-floor"),
  },
  {
    bench: "versus",
    argv: [
      "--systems",
      // Every system but the gate-path row, which versus-floor below measures beside the floor.
      SYSTEM_NAMES.filter((name) => name !== "roundhouse-gate-path").join(","),
    ],
    writes: writes("versus"),
    check: versusRowsPresent,
  },
  {
    bench: "versus",
    label: "versus-floor",
    argv: [
      ...["--systems", "roundhouse-workerd,roundhouse-gate-path,workerd-floor"],
      ...["--scenarios", "healthy", "--rounds", "3", "--duration", "8", "--out", "versus-floor"],
    ],
    writes: writes("versus", "versus-floor"),
    check: versusRowsPresent,
  },
  {
    bench: "versus",
    label: "versus-c3",
    argv: ["--connections", "3", "--scenarios", "healthy", "--out", "versus-c3"],
    writes: writes("versus", "versus-c3"),
    check: versusRowsPresent,
  },
  {
    bench: "versus",
    label: "versus-post",
    argv: ["--method", "POST", "--duration", "5"],
    writes: writes("versus", "versus-post"),
    check: versusRowsPresent,
  },
];
