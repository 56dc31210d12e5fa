// `npm run bench [-- <scenario> [options]]`: runs one benchmark scenario, or all of them.
import { dispatchBench } from "./dispatch.ts";
import { failoverBench } from "./failover.ts";
import { peerSyncBench } from "./peer-sync.ts";
import { streamBench } from "./stream.ts";

const SCENARIOS: Record<string, (argv: string[]) => Promise<void>> = {
  dispatch: dispatchBench,
  failover: failoverBench,
  leases: async (argv) => (await import("./leases.ts")).leasesBench(argv),
  "peers-sync": peerSyncBench,
  policies: async (argv) => (await import("./policies.ts")).policiesBench(argv),
  profile: async (argv) => (await import("./profile.ts")).profileBench(argv),
  stream: streamBench,
  versus: async (argv) => (await import("./versus.ts")).versusBench(argv),
};

const [name, ...rest] = process.argv.slice(2);
const chosen = name && !name.startsWith("-") ? [name] : Object.keys(SCENARIOS);
const argv = name && !name.startsWith("-") ? rest : process.argv.slice(2);
for (const scenario of chosen) {
  const run = SCENARIOS[scenario];
  if (!run) {
    console.error(
      `unknown scenario "${scenario}"; choose from: ${Object.keys(SCENARIOS).join(", ")}`,
    );
    process.exit(2);
  }
  await run(argv);
}
process.exit(0);
