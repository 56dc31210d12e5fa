// `npm run bench -- profile`: a V8 CPU profile of the gateway's isolate under load. Starts the
// three reference nodes and the gateway under `wrangler dev` with its inspector on a fixed port,
// warms up, samples while autocannon drives GETs through the proxy, and prints the functions with
// the most self time. The raw profile is written for Chrome DevTools (Performance → Load profile).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startGateway } from "./gateway.ts";
import { connectInspector, profileDuring } from "./profile/inspector.ts";
import { summarise } from "./profile/summary.ts";
import { machine, printTable, resultFile, writeResult } from "./report.ts";
import { runCannon } from "./versus/cannon.ts";
import { startNodes } from "./versus/nodes.ts";
import { checkFree, portsFrom } from "./versus/ports.ts";
import { gatewayConfig } from "./versus/systems.ts";

const USAGE = `npm run bench -- profile [--policy round_robin|least_outstanding] [--floor]
    [--duration 5] [--warmup 2] [--connections 30] [--top 25] [--base-port 18200]
--floor profiles the versus bench's bare forwarding Worker instead of the gateway, for comparison.`;

const FLOOR_CONFIG = "bench/versus/floor/wrangler.toml";

export async function profileBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      policy: { type: "string", default: "round_robin" },
      floor: { type: "boolean", default: false },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      connections: { type: "string", default: "30" },
      top: { type: "string", default: "25" },
      "base-port": { type: "string", default: "18200" },
    },
  });
  const policy = values.policy ?? "round_robin";
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const connections = Number(values.connections);
  const top = Number(values.top);
  const base = Number(values["base-port"]);
  if (
    ![durationS, connections, top, base].every((n) => Number.isInteger(n) && n > 0) ||
    !(Number.isInteger(warmupS) && warmupS >= 0)
  ) {
    console.error(`the numbers must be whole numbers, positive (--warmup: 0 or more)\n${USAGE}`);
    process.exit(2);
  }
  const out = values.floor ? "profile-floor" : "profile";
  const ports = portsFrom(base);
  await checkFree(ports);
  const inspectorPort = ports.gateway + 1;
  const nodes = await startNodes(ports.control);
  try {
    const gateway = await startGateway(
      gatewayConfig(nodes, { policy }),
      ports.gateway,
      {},
      { inspectorPort, ...(values.floor ? { wranglerConfig: FLOOR_CONFIG } : {}) },
    );
    try {
      const load = { urls: [`${gateway.url}/s/versus/`], connections, method: "GET" as const };
      if (warmupS > 0) await runCannon({ ...load, durationS: warmupS });
      const inspector = await connectInspector(inspectorPort);
      let measured: Awaited<ReturnType<typeof runCannon>> | undefined;
      const profile = await profileDuring(inspector, async () => {
        measured = await runCannon({ ...load, durationS });
      });
      inspector.close();
      const summary = summarise(profile);
      const answered = (measured?.ok ?? 0) + (measured?.non2xx ?? 0);
      const perRequestUs = answered > 0 ? (summary.busyMs * 1000) / answered : 0;
      console.log(
        `\n${answered} requests in ${durationS} s (${measured?.rps.toFixed(0)} req/s); the isolate was busy for ${summary.busyMs.toFixed(0)} ms of ${summary.sampledMs.toFixed(0)} ms sampled, ${perRequestUs.toFixed(0)} µs per request\n`,
      );
      printTable(
        ["self ms", "share", "µs/req", "function"],
        summary.functions
          .slice(0, top)
          .map((f) => [
            f.selfMs.toFixed(1),
            `${(f.share * 100).toFixed(1)}%`,
            answered > 0 ? ((f.selfMs * 1000) / answered).toFixed(1) : "–",
            f.label,
          ]),
      );
      const raw = resultFile(`${out}.cpuprofile`);
      writeFileSync(raw, JSON.stringify(profile));
      const written = writeResult(
        "profile",
        {
          machine: machine(),
          settings: {
            worker: values.floor ? "workerd-floor" : "roundhouse",
            policy,
            durationS,
            warmupS,
            connections,
          },
          requests: answered,
          rps: measured?.rps,
          busyMs: summary.busyMs,
          sampledMs: summary.sampledMs,
          perRequestUs,
          top: summary.functions.slice(0, top),
        },
        out,
      );
      console.log(`\nwrote ${written} and ${raw}`);
    } finally {
      await gateway.stop();
    }
  } finally {
    await nodes.close();
  }
}
