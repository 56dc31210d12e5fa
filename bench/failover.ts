// `npm run bench -- failover`: kill one of three discovered nodes under steady load; how long until
// no request goes to it, how many requests fail meanwhile, and what discovery costs; then stop a
// whole rack and a whole datacenter of a two-datacenter cluster.
import { parseArgs } from "node:util";
import { startFleet } from "../backend/fleet.ts";
import { startGateway } from "./gateway.ts";
import { runLoad } from "./load.ts";
import { fmt, machine, printTable, writeResult } from "./report.ts";
import { scopeOutages } from "./scope-outage.ts";

export async function failoverBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "active-ms": { type: "string", default: "1000" },
      "idle-ms": { type: "string", default: "60000" },
      "idle-window-ms": { type: "string" },
      concurrency: { type: "string", default: "8" },
      // The load's phases; `npm run bench -- smoke` shortens them.
      "warmup-ms": { type: "string", default: "2000" },
      "kill-after-ms": { type: "string", default: "3000" },
      "window-ms": { type: "string", default: "10000" },
      "outage-window-ms": { type: "string", default: "8000" },
      // In the staged case, from the rack's stop to the rest of its datacenter's.
      "outage-stage-ms": { type: "string", default: "2000" },
      port: { type: "string", default: "8795" },
    },
  });
  const activeIntervalMs = Number(values["active-ms"]);
  const idleIntervalMs = Number(values["idle-ms"]);
  // Long enough to see at least two idle-paced rounds.
  const idleWindowMs = Number(values["idle-window-ms"] ?? 2 * idleIntervalMs + 1_000);
  const warmupMs = Number(values["warmup-ms"]);
  const killAfterMs = Number(values["kill-after-ms"]);
  const fleet = await startFleet({ host: "127.0.0.1" });
  const cluster = await fleet.addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 3 }] });
  const members = [...cluster.members.values()];
  const [victim, seed] = members as [(typeof members)[number], (typeof members)[number]];
  const service = {
    name: "failover",
    allow: ["127.0.0.0/8"],
    // The figures count answers by node and attempts, from the provenance headers.
    provenance: "headers",
    discovery: { seeds: [seed.url], activeIntervalMs, idleIntervalMs },
    scope: { dc: "dc1" },
  };
  const gateway = await startGateway({ services: [service] }, Number(values.port));
  const discoveryRequests = () => members.reduce((sum, n) => sum + n.stats().localnodesRequests, 0);
  try {
    const url = `${gateway.url}/s/failover/`;
    await runLoad({ url, concurrency: Number(values.concurrency), durationMs: warmupMs });

    // Discovery cost while active: requests over a window of steady traffic.
    const activeWindowMs = Number(values["window-ms"]);
    const activeBefore = discoveryRequests();
    const killAt = performance.now() + killAfterMs;
    let killedAt = 0;
    const kill = setTimeout(() => {
      killedAt = performance.now();
      void victim.stop();
    }, killAfterMs);
    const run = await runLoad({
      url,
      concurrency: Number(values.concurrency),
      durationMs: activeWindowMs,
      trace: true,
      attributed: true,
    });
    clearTimeout(kill);
    const activePerMinute = ((discoveryRequests() - activeBefore) * 60_000) / run.elapsedMs;

    // Failover: the last response that had to leave the dead node (a retry, or a failure).
    const afterKill = run.trace.filter((t) => t.sentAt >= (killedAt || killAt));
    const touched = afterKill.filter((t) => t.attempts > 1 || t.status >= 500 || t.status === 0);
    const failoverMs = touched.length ? Math.max(...touched.map((t) => t.doneAt)) - killedAt : 0;
    const failedIdempotentRequests = afterKill.filter(
      (t) => t.status >= 500 || t.status === 0,
    ).length;

    // Discovery cost while idle: once a full idle interval has passed without traffic (until then
    // the service is still active), count over the window.
    await new Promise((resolve) => setTimeout(resolve, idleIntervalMs + activeIntervalMs));
    const idleBefore = discoveryRequests();
    const idleStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, idleWindowMs));
    const idlePerMinute =
      ((discoveryRequests() - idleBefore) * 60_000) / (performance.now() - idleStart);

    const outages = await scopeOutages(fleet, {
      activeIntervalMs,
      concurrency: Number(values.concurrency),
      warmupMs,
      killAfterMs,
      stageMs: Number(values["outage-stage-ms"]),
      windowMs: Number(values["outage-window-ms"]),
      port: Number(values.port) + 1,
    });

    const result = {
      machine: machine(),
      activeIntervalMs,
      idleIntervalMs,
      concurrency: Number(values.concurrency),
      phasesMs: {
        warmup: warmupMs,
        killAfter: killAfterMs,
        window: activeWindowMs,
        outageWindow: Number(values["outage-window-ms"]),
        outageStage: Number(values["outage-stage-ms"]),
      },
      requests: run.ok + run.errors,
      failoverMs,
      failedIdempotentRequests,
      retriedAfterKill: touched.length,
      discoveryPerMinuteActive: activePerMinute,
      discoveryPerMinuteIdle: idlePerMinute,
      outages,
    };
    console.log(
      `\nfailover: 3 discovered nodes, one stopped after ${killAfterMs} ms of ${values.concurrency}-client load`,
    );
    printTable(
      [
        "failover ms",
        "target ms",
        "failed idempotent",
        "retried",
        "discovery/min active",
        "discovery/min idle",
      ],
      [
        [
          fmt(failoverMs),
          `≤ ${activeIntervalMs}`,
          failedIdempotentRequests,
          touched.length,
          fmt(activePerMinute, 1),
          fmt(idlePerMinute, 2),
        ],
      ],
    );
    console.log(
      "\nwhole-level outages: a rack (2 of dc1/r2) or a datacenter (all 4 of dc1) stops at once; " +
        "datacenter-unnamed: seeds in dc1 and dc2, none named, dc1/r2 stops and then dc1/r1",
    );
    printTable(
      ["level", "nodes stopped", "requests", "failed idempotent", "retried", "failover ms"],
      outages.map((o) => [
        o.level,
        o.stopped,
        o.requests,
        o.failedIdempotentRequests,
        o.retriedAfterStop,
        fmt(o.failoverMs),
      ]),
    );
    console.log(`wrote ${writeResult("failover", result)}`);
  } finally {
    await gateway.stop();
    await fleet.close();
  }
}
