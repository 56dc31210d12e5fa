// `npm run bench -- dispatch`: does dispatch throughput scale with the number of nodes when the
// lock is held per node, and stay flat when one lock is held for the whole service?
import { parseArgs } from "node:util";
import { startFleet } from "../backend/fleet.ts";
import type { BackendNode } from "../backend/node-types.ts";
import { type Gateway, startGateway } from "./gateway.ts";
import { runLoad } from "./load.ts";
import { DISPATCH_REFERENCE } from "./reference.ts";
import { fmt, machine, printTable, writeResult } from "./report.ts";

const NODE_COUNTS = [1, 2, 4, 8] as const;
const SCOPES = ["global", "node"] as const;
type Scope = (typeof SCOPES)[number];

interface GatewayStats {
  dispatches: number;
  coordinatorCalls: number;
  gateCalls: number;
}

export async function dispatchBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "handshake-ms": { type: "string", default: "100" },
      "gate-limit": { type: "string", default: "1" },
      concurrency: { type: "string", default: "64" },
      "duration-ms": { type: "string", default: "5000" },
      "warmup-ms": { type: "string", default: "1000" },
      port: { type: "string", default: "8797" },
    },
  });
  const handshakeMs = Number(values["handshake-ms"]);
  const gateLimit = Number(values["gate-limit"]);
  const concurrency = Number(values.concurrency);
  const durationMs = Number(values["duration-ms"]);
  const warmupMs = Number(values["warmup-ms"]);

  const fleet = await startFleet({ host: "127.0.0.1" });
  const nodes: BackendNode[] = [];
  for (let i = 1; i <= Math.max(...NODE_COUNTS); i++) {
    nodes.push(await fleet.addNode({ id: `bench-${i}`, behaviour: { delayMs: handshakeMs } }));
  }
  const services = SCOPES.flatMap((scope) =>
    NODE_COUNTS.map((n) => ({
      name: `${scope}-${n}`,
      lockScope: scope,
      allow: ["127.0.0.0/8"],
      // The figures count answers by node and attempts, from the provenance headers.
      provenance: "headers",
      gate: { limit: gateLimit },
      retry: { maxAttempts: 1, perTryTimeoutMs: 30_000, deadlineMs: 60_000 },
      nodes: nodes.slice(0, n).map((node) => ({ id: node.id, url: node.url })),
    })),
  );
  const gateway = await startGateway({ services }, Number(values.port));
  const opsPerSec: Record<Scope, Record<string, number>> = { global: {}, node: {} };
  const peaks: Record<Scope, Record<string, number>> = { global: {}, node: {} };
  const total = { dispatches: 0, coordinatorCalls: 0, gateCalls: 0 };
  try {
    for (const scope of SCOPES) {
      for (const n of NODE_COUNTS) {
        const url = `${gateway.url}/s/${scope}-${n}/`;
        await runLoad({ url, concurrency, durationMs: warmupMs });
        for (const node of nodes) node.resetStats();
        const before = await stats(gateway);
        const run = await runLoad({ url, concurrency, durationMs, attributed: true });
        const after = await stats(gateway);
        if (run.errors > 0) console.warn(`${scope}-${n}: ${run.errors} failed requests`);
        opsPerSec[scope][n] = run.ok / (run.elapsedMs / 1000);
        peaks[scope][n] = Math.max(...nodes.slice(0, n).map((node) => node.stats().peakHandshakes));
        total.dispatches += after.dispatches - before.dispatches;
        total.coordinatorCalls += after.coordinatorCalls - before.coordinatorCalls;
        total.gateCalls += after.gateCalls - before.gateCalls;
      }
    }
  } finally {
    await gateway.stop();
    await fleet.close();
  }

  const scaling = (scope: Scope) =>
    Object.fromEntries(
      NODE_COUNTS.slice(1).map((n) => [
        String(n),
        (opsPerSec[scope][n] ?? 0) / (opsPerSec[scope][1] ?? 1),
      ]),
    );
  const result = {
    machine: machine(),
    handshakeMs,
    gateLimit,
    concurrency,
    durationMs,
    idealNodeOpsPerSec: Object.fromEntries(
      NODE_COUNTS.map((n) => [n, (n * gateLimit * 1000) / handshakeMs]),
    ),
    opsPerSec,
    scaling: { node: scaling("node"), global: scaling("global") },
    peakHandshakesPerNode: Math.max(...SCOPES.flatMap((s) => Object.values(peaks[s]))),
    peakHandshakesByRun: peaks,
    coordinatorRoundTripsPerDispatch: total.coordinatorCalls / total.dispatches,
    gateRoundTripsPerDispatch: total.gateCalls / total.dispatches,
    reference: DISPATCH_REFERENCE,
  };

  console.log(
    `\ndispatch: H=${handshakeMs} ms handshake, gate limit ${gateLimit}, ${concurrency} concurrent, ${durationMs} ms per run`,
  );
  printTable(
    [
      "lock",
      ...NODE_COUNTS.map((n) => `N=${n}`),
      "1→4",
      "1→8",
      "peak/node",
      "ref N=1",
      "ref N=4",
      "ref 1→4",
    ],
    [
      [
        "ideal node",
        ...NODE_COUNTS.map((n) => fmt(result.idealNodeOpsPerSec[n] ?? 0)),
        "4.00×",
        "8.00×",
        gateLimit,
        "",
        "",
        "",
      ],
      ...SCOPES.map((scope) => [
        scope,
        ...NODE_COUNTS.map((n) => fmt(opsPerSec[scope][n] ?? 0)),
        `${fmt(result.scaling[scope]["4"] ?? 0, 2)}×`,
        `${fmt(result.scaling[scope]["8"] ?? 0, 2)}×`,
        Math.max(...Object.values(peaks[scope])),
        DISPATCH_REFERENCE[scope][1],
        DISPATCH_REFERENCE[scope][4],
        `${DISPATCH_REFERENCE.scaling4[scope].toFixed(2)}×`,
      ]),
    ],
  );
  console.log(
    `Durable Object round trips per dispatch: coordinator ${fmt(result.coordinatorRoundTripsPerDispatch, 4)}, gate ${fmt(result.gateRoundTripsPerDispatch, 3)}`,
  );
  console.log(`wrote ${writeResult("dispatch", result)}`);
}

/** The gateway's counters; `/_gw/stats` needs the admin token. */
async function stats(gateway: Gateway): Promise<GatewayStats> {
  const headers = { authorization: `Bearer ${gateway.adminToken}` };
  return (await (await fetch(`${gateway.url}/_gw/stats`, { headers })).json()) as GatewayStats;
}
