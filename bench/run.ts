// `npm run bench [-- <benchmark> [options]]`: runs one benchmark; `smoke` runs every one of them
// for a few seconds (results in bench/results/smoke/), `all` (also the default) every one in its
// documented configuration. Either suite takes benchmark labels to run only those.
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { describeProvenance } from "./provenance.ts";
import { RESULTS_DIR_VAR, resultsDir, runProvenance } from "./report.ts";
import { childRunner, labelOf, reportOutcomes, runSuite, type SuiteEntry } from "./suite.ts";
import { ALL, SMOKE } from "./suites.ts";

const BENCHES: Record<string, (argv: string[]) => Promise<void>> = {
  dispatch: async (argv) => (await import("./dispatch.ts")).dispatchBench(argv),
  failover: async (argv) => (await import("./failover.ts")).failoverBench(argv),
  leases: async (argv) => (await import("./leases.ts")).leasesBench(argv),
  "peers-sync": async (argv) => (await import("./peer-sync.ts")).peerSyncBench(argv),
  policies: async (argv) => (await import("./policies.ts")).policiesBench(argv),
  profile: async (argv) => (await import("./profile.ts")).profileBench(argv),
  stream: async (argv) => (await import("./stream.ts")).streamBench(argv),
  versus: async (argv) => (await import("./versus.ts")).versusBench(argv),
};

const SUITES: Record<string, { entries: readonly SuiteEntry[]; timeoutMs: number }> = {
  // Each smoke run takes seconds; a minute and a half means it hangs.
  smoke: { entries: SMOKE, timeoutMs: 90_000 },
  // The longest, the default versus run, takes about 12 minutes.
  all: { entries: ALL, timeoutMs: 45 * 60_000 },
};

const SMOKE_DIR = resolve(import.meta.dirname, "results/smoke");

const USAGE = `npm run bench [-- smoke|all [label…]]
npm run bench -- <benchmark> [options]     benchmarks: ${Object.keys(BENCHES).join(", ")}`;

const [name = "all", ...rest] = process.argv.slice(2);
const bench = BENCHES[name];
const suite = SUITES[name];
if (!bench && !suite) {
  console.error(`unknown benchmark "${name}"\n${USAGE}`);
  process.exit(2);
}
let provenance: ReturnType<typeof runProvenance>;
try {
  provenance = runProvenance();
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
console.log(`bench ${name}: measuring ${describeProvenance(provenance)}`);

if (bench) {
  await bench(rest);
  process.exit(0);
}
if (suite) {
  const unknown = rest.filter((label) => !suite.entries.some((e) => labelOf(e) === label));
  if (unknown.length > 0) {
    const labels = suite.entries.map(labelOf).join(", ");
    console.error(`${name} has no ${unknown.join(", ")}; its runs: ${labels}\n${USAGE}`);
    process.exit(2);
  }
  const entries = suite.entries.filter((e) => rest.length === 0 || rest.includes(labelOf(e)));
  const diverted = process.env[RESULTS_DIR_VAR] !== undefined;
  const dir = name === "smoke" && !diverted ? SMOKE_DIR : resultsDir();
  // Only smoke's own directory, which git ignores, is emptied before a run.
  if (dir === SMOKE_DIR) rmSync(dir, { recursive: true, force: true });
  const outcomes = await runSuite(entries, { resultsDir: dir, run: childRunner(suite.timeoutMs) });
  const ok = reportOutcomes(`bench ${name} at ${describeProvenance(provenance)}`, outcomes);
  process.exit(ok ? 0 : 1);
}
