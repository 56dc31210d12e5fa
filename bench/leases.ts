// `npm run bench -- leases`: how many Durable Object round trips a dispatch costs when isolates
// lease gate capacity, and whether a node ever sees more handshakes than its gate limit. Isolates
// {1, 3} × gate limit {1, 8, 64}, 30 connections shared by the isolates, healthy nodes.
import { parseArgs } from "node:util";
import { startFleet } from "../backend/fleet.ts";
import type { BackendNode } from "../backend/node-types.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../scripts/gateway-isolates.ts";
import { runLoad } from "./load.ts";
import { fmt, machine, printTable, writeResult } from "./report.ts";

const ISOLATE_COUNTS = [1, 3] as const;
const GATE_LIMITS = [1, 8, 64] as const;

interface IsolateCounters {
  dispatches: number;
  gateCalls: number;
  gateLeaseCalls: number;
  directAttempts: number;
  coordinatorCalls: number;
  liveNodeCalls: number;
}

/** One cell of the grid, as written to bench/results/leases.json. */
interface Cell {
  readonly isolates: number;
  readonly gateLimit: number;
  /** Gate calls plus lease calls per dispatch, counted in each isolate. */
  readonly doRoundTripsPerDispatch: number;
  /** The same with the coordinator and live-node calls added: every object call. */
  readonly allObjectCallsPerDispatch: number;
  /** Share of attempts sent from the isolate on a leased slot. */
  readonly leasedShare: number;
  /** Most handshakes one node had in progress at once, counted by the node. */
  readonly peakHandshakesPerNode: number;
  readonly reqPerSec: number;
  readonly errors: number;
}

export async function leasesBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      connections: { type: "string", default: "30" },
      "duration-ms": { type: "string", default: "5000" },
      "warmup-ms": { type: "string", default: "1000" },
      "handshake-ms": { type: "string", default: "5" },
      nodes: { type: "string", default: "3" },
      // The measured run of each path in the one-fast-node ceiling, after a warm-up of warmup-ms.
      "ceiling-ms": { type: "string", default: "4000" },
    },
  });
  const connections = Number(values.connections);
  const durationMs = Number(values["duration-ms"]);
  const warmupMs = Number(values["warmup-ms"]);
  const handshakeMs = Number(values["handshake-ms"]);

  const fleet = await startFleet({ host: "127.0.0.1" });
  const nodes: BackendNode[] = [];
  for (let i = 1; i <= Number(values.nodes); i++) {
    nodes.push(await fleet.addNode({ id: `lease-${i}`, behaviour: { delayMs: handshakeMs } }));
  }
  const config = {
    services: GATE_LIMITS.map((limit) => ({
      name: `limit-${limit}`,
      allow: ["127.0.0.0/8"],
      gate: { limit },
      retry: { maxAttempts: 1, perTryTimeoutMs: 10_000, deadlineMs: 30_000 },
      nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
    })),
  };
  const cells: Cell[] = [];
  try {
    for (const isolates of ISOLATE_COUNTS) {
      const gateways = await startGatewayIsolates(isolates, config);
      try {
        for (const gateLimit of GATE_LIMITS) {
          const load = (ms: number) =>
            Promise.all(
              gateways.urls.map((url, i) =>
                runLoad({
                  url: `${url}/s/limit-${gateLimit}/`,
                  // The connections are shared out over the isolates, as an edge spreads clients.
                  concurrency:
                    Math.floor(connections / isolates) + (i < connections % isolates ? 1 : 0),
                  durationMs: ms,
                }),
              ),
            );
          await load(warmupMs);
          for (const node of nodes) node.resetStats();
          const before = await countersOf(gateways);
          const runs = await load(durationMs);
          const after = await countersOf(gateways);
          const delta = (key: keyof IsolateCounters) => after[key] - before[key];
          const ok = runs.reduce((sum, r) => sum + r.ok, 0);
          const elapsed = Math.max(...runs.map((r) => r.elapsedMs));
          const attempts = delta("gateCalls") + delta("directAttempts");
          cells.push({
            isolates,
            gateLimit,
            doRoundTripsPerDispatch:
              (delta("gateCalls") + delta("gateLeaseCalls")) / delta("dispatches"),
            allObjectCallsPerDispatch:
              (delta("gateCalls") +
                delta("gateLeaseCalls") +
                delta("coordinatorCalls") +
                delta("liveNodeCalls")) /
              delta("dispatches"),
            leasedShare: attempts > 0 ? delta("directAttempts") / attempts : 0,
            peakHandshakesPerNode: Math.max(...nodes.map((n) => n.stats().peakHandshakes)),
            reqPerSec: ok / (elapsed / 1000),
            errors: runs.reduce((sum, r) => sum + r.errors, 0),
          });
        }
      } finally {
        await gateways.close();
      }
    }
  } finally {
    await fleet.close();
  }

  const ceiling = await nodeCeiling(connections * 2, warmupMs, Number(values["ceiling-ms"]));

  const targets = {
    doRoundTripsPerDispatchAtLimit64: 0.05,
    peakHandshakesNeverAboveLimit: cells.every((c) => c.peakHandshakesPerNode <= c.gateLimit),
  };
  console.log(
    `\nleases: ${nodes.length} nodes (${handshakeMs} ms handshake), ${connections} connections, ${durationMs} ms per cell`,
  );
  printTable(
    [
      "isolates",
      "limit",
      "DO calls/dispatch",
      "all calls",
      "leased",
      "peak/node",
      "req/s",
      "errors",
    ],
    cells.map((c) => [
      c.isolates,
      c.gateLimit,
      fmt(c.doRoundTripsPerDispatch, 4),
      fmt(c.allObjectCallsPerDispatch, 4),
      `${fmt(c.leasedShare * 100, 1)}%`,
      c.peakHandshakesPerNode,
      fmt(c.reqPerSec),
      c.errors,
    ]),
  );
  const at64 = cells.filter((c) => c.gateLimit === 64);
  console.log(
    `targets: ≤ ${targets.doRoundTripsPerDispatchAtLimit64} DO calls per dispatch at limit 64 (${at64.map((c) => fmt(c.doRoundTripsPerDispatch, 4)).join(", ")}); peak ≤ limit in every cell: ${targets.peakHandshakesNeverAboveLimit}`,
  );
  console.log(
    `one node, no handshake delay, ${ceiling.isolates} isolates, ${ceiling.connections} connections: gate path ${fmt(ceiling.gatePathReqPerSec)} req/s, leases ${fmt(ceiling.leasedReqPerSec)} req/s (${fmt(ceiling.leasedReqPerSec / ceiling.gatePathReqPerSec, 2)}×)`,
  );
  const result = {
    machine: machine(),
    connections,
    durationMs,
    handshakeMs,
    targets,
    cells,
    ceiling,
  };
  console.log(`wrote ${writeResult("leases", result)}`);
}

/**
 * The most one node receives through each path here: one fast node, both services at limit 64,
 * one with leases off. On this machine both are bound by its two cores; deployed, the gate path is
 * also bound by what one Durable Object serves.
 */
async function nodeCeiling(connections: number, warmupMs: number, durationMs: number) {
  const isolates = 3;
  const fleet = await startFleet({ host: "127.0.0.1" });
  const node = await fleet.addNode({ id: "ceiling", behaviour: { delayMs: 0 } });
  const nodes = [{ id: node.id, url: node.url }];
  const retry = { maxAttempts: 1 };
  const allow = ["127.0.0.0/8"];
  const gateways = await startGatewayIsolates(isolates, {
    services: [
      { name: "gate-path", gate: { limit: 64, lease: false }, retry, nodes, allow },
      { name: "leased", gate: { limit: 64 }, retry, nodes, allow },
    ],
  });
  const rate = async (service: string) => {
    const load = (ms: number) =>
      Promise.all(
        gateways.urls.map((url) =>
          runLoad({
            url: `${url}/s/${service}/`,
            concurrency: Math.ceil(connections / isolates),
            durationMs: ms,
          }),
        ),
      );
    await load(warmupMs);
    const runs = await load(durationMs);
    const ok = runs.reduce((sum, r) => sum + r.ok, 0);
    return ok / (Math.max(...runs.map((r) => r.elapsedMs)) / 1000);
  };
  try {
    const gatePathReqPerSec = await rate("gate-path");
    const leasedReqPerSec = await rate("leased");
    return { isolates, connections, durationMs, gatePathReqPerSec, leasedReqPerSec };
  } finally {
    await gateways.close();
    await fleet.close();
  }
}

/** Every isolate's counters summed; `/_gw/stats` needs the admin token. */
async function countersOf(gateways: GatewayIsolates): Promise<IsolateCounters> {
  const headers = { authorization: `Bearer ${gateways.adminToken}` };
  const all = await Promise.all(
    gateways.urls.map(
      async (url) =>
        (await (await fetch(`${url}/_gw/stats`, { headers })).json()) as IsolateCounters,
    ),
  );
  const sum = (key: keyof IsolateCounters) => all.reduce((s, c) => s + c[key], 0);
  return {
    dispatches: sum("dispatches"),
    gateCalls: sum("gateCalls"),
    gateLeaseCalls: sum("gateLeaseCalls"),
    directAttempts: sum("directAttempts"),
    coordinatorCalls: sum("coordinatorCalls"),
    liveNodeCalls: sum("liveNodeCalls"),
  };
}
