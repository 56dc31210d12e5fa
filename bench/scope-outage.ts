// Whole-level outages for `npm run bench -- failover`: a whole rack, then a whole datacenter,
// stops at once under steady load; how many idempotent requests fail, and how long until no
// request touches the dead level.
import type { Fleet } from "../backend/fleet.ts";
import type { BackendNode } from "../backend/node-types.ts";
import { startGateway } from "./gateway.ts";
import { runLoad } from "./load.ts";

/** One whole-level outage as measured. */
export interface OutageResult {
  readonly level: "rack" | "datacenter";
  readonly stopped: number;
  readonly requests: number;
  readonly failedIdempotentRequests: number;
  readonly retriedAfterStop: number;
  /** From the stop until the last request that had to leave the dead level. */
  readonly failoverMs: number;
}

/** Runs the rack and the datacenter case on a dc1/r1, dc1/r2, dc2/r1 cluster, two nodes each. */
export async function scopeOutages(
  fleet: Fleet,
  options: {
    activeIntervalMs: number;
    concurrency: number;
    /** Load before the measured run, ms. */
    warmupMs: number;
    /** Into the measured run, ms, when the level stops. */
    killAfterMs: number;
    /** Length of the measured run, ms. */
    windowMs: number;
    port: number;
  },
): Promise<OutageResult[]> {
  const results: OutageResult[] = [];
  for (const level of ["rack", "datacenter"] as const) {
    const cluster = await fleet.addCluster({
      layout: [
        { dc: "dc1", rack: "r1", count: 2 },
        { dc: "dc1", rack: "r2", count: 2 },
        { dc: "dc2", rack: "r1", count: 2 },
      ],
    });
    const members = [...cluster.members.values()];
    const seed = members.find((n) => n.dc === "dc1" && n.rack === "r1") as BackendNode;
    const dead = members.filter((n) =>
      level === "rack" ? n.dc === "dc1" && n.rack === "r2" : n.dc === "dc1",
    );
    const scope = level === "rack" ? { dc: "dc1", rack: "r2" } : { dc: "dc1" };
    const service = {
      name: "outage",
      allow: ["127.0.0.0/8"],
      // The figures count answers by node and attempts, from the provenance headers.
      provenance: "headers",
      discovery: {
        seeds: [seed.url],
        activeIntervalMs: options.activeIntervalMs,
        datacenters: ["dc2"],
      },
      scope,
    };
    const gateway = await startGateway({ services: [service] }, options.port);
    try {
      const url = `${gateway.url}/s/outage/`;
      await runLoad({ url, concurrency: options.concurrency, durationMs: options.warmupMs });
      let stoppedAt = 0;
      const stop = setTimeout(() => {
        stoppedAt = performance.now();
        for (const node of dead) void node.stop();
      }, options.killAfterMs);
      const run = await runLoad({
        url,
        concurrency: options.concurrency,
        durationMs: options.windowMs,
        trace: true,
        attributed: true,
      });
      clearTimeout(stop);
      const after = run.trace.filter((t) => t.sentAt >= stoppedAt);
      const failed = after.filter((t) => t.status >= 500 || t.status === 0);
      const touched = after.filter((t) => t.attempts > 1 || t.status >= 500 || t.status === 0);
      results.push({
        level,
        stopped: dead.length,
        requests: run.ok + run.errors,
        failedIdempotentRequests: failed.length,
        retriedAfterStop: touched.length,
        failoverMs: touched.length ? Math.max(...touched.map((t) => t.doneAt)) - stoppedAt : 0,
      });
    } finally {
      await gateway.stop();
    }
  }
  return results;
}
