// Whole-level outages for `npm run bench -- failover`: a whole rack, a whole datacenter, and a
// rack and then the rest of its datacenter with seeds in two datacenters and none named, each
// stopping under steady load; how many idempotent requests fail, and how long until no request
// touches a dead level.
import type { Fleet } from "../backend/fleet.ts";
import type { BackendNode } from "../backend/node-types.ts";
import { startGateway } from "./gateway.ts";
import { runLoad } from "./load.ts";

/** The outages measured, each on a fresh cluster. */
export const OUTAGE_LEVELS = ["rack", "datacenter", "datacenter-unnamed"] as const;

/** One whole-level outage as measured. */
export interface OutageResult {
  /**
   * rack: dc1/r2 stops, scope dc1/r2; datacenter: all of dc1 stops, scope dc1, dc2 named;
   * datacenter-unnamed: seeds in dc1 and dc2 and no datacenter named, scope dc1/r2, dc1/r2 stops
   * and then dc1/r1 too.
   */
  readonly level: (typeof OUTAGE_LEVELS)[number];
  readonly stopped: number;
  readonly requests: number;
  readonly failedIdempotentRequests: number;
  readonly retriedAfterStop: number;
  /** From the first stop until the last request that had to leave a dead level. */
  readonly failoverMs: number;
}

/** How one case is set up: the service's scope and discovery, and which nodes stop when. */
interface OutageCase {
  readonly scope: Record<string, string>;
  readonly discovery: Record<string, unknown>;
  /** Groups of nodes stopped in turn, the first at `killAfterMs`, each next `stageMs` later. */
  readonly stages: readonly BackendNode[][];
}

function outageCase(level: OutageResult["level"], members: BackendNode[]): OutageCase {
  const at = (dc: string, rack?: string) =>
    members.filter((n) => n.dc === dc && (rack === undefined || n.rack === rack));
  const seed = at("dc1", "r1")[0] as BackendNode;
  switch (level) {
    case "rack":
      return {
        scope: { dc: "dc1", rack: "r2" },
        discovery: { seeds: [seed.url], datacenters: ["dc2"] },
        stages: [at("dc1", "r2")],
      };
    case "datacenter":
      return {
        scope: { dc: "dc1" },
        discovery: { seeds: [seed.url], datacenters: ["dc2"] },
        stages: [at("dc1")],
      };
    case "datacenter-unnamed":
      // The cluster level is learnt from both seeds' parameterless answers (issue #23's case).
      return {
        scope: { dc: "dc1", rack: "r2" },
        discovery: { seeds: [seed.url, (at("dc2")[0] as BackendNode).url] },
        stages: [at("dc1", "r2"), at("dc1", "r1")],
      };
  }
}

/** Runs every case on a dc1/r1, dc1/r2, dc2/r1 cluster, two nodes each. */
export async function scopeOutages(
  fleet: Fleet,
  options: {
    activeIntervalMs: number;
    concurrency: number;
    /** Load before the measured run, ms. */
    warmupMs: number;
    /** Into the measured run, ms, when the (first) level stops. */
    killAfterMs: number;
    /** Between the stages of a staged outage, ms. */
    stageMs: number;
    /** Length of the measured run, ms. */
    windowMs: number;
    port: number;
  },
): Promise<OutageResult[]> {
  const results: OutageResult[] = [];
  for (const level of OUTAGE_LEVELS) {
    const cluster = await fleet.addCluster({
      layout: [
        { dc: "dc1", rack: "r1", count: 2 },
        { dc: "dc1", rack: "r2", count: 2 },
        { dc: "dc2", rack: "r1", count: 2 },
      ],
    });
    const { scope, discovery, stages } = outageCase(level, [...cluster.members.values()]);
    const service = {
      name: "outage",
      allow: ["127.0.0.0/8"],
      // The figures count answers by node and attempts, from the provenance headers.
      provenance: "headers",
      discovery: { ...discovery, activeIntervalMs: options.activeIntervalMs },
      scope,
    };
    const gateway = await startGateway({ services: [service] }, options.port);
    try {
      const url = `${gateway.url}/s/outage/`;
      await runLoad({ url, concurrency: options.concurrency, durationMs: options.warmupMs });
      let stoppedAt = 0;
      const timers = stages.map((nodes, stage) =>
        setTimeout(
          () => {
            if (stage === 0) stoppedAt = performance.now();
            for (const node of nodes) void node.stop();
          },
          options.killAfterMs + stage * options.stageMs,
        ),
      );
      const run = await runLoad({
        url,
        concurrency: options.concurrency,
        durationMs: options.windowMs,
        trace: true,
        attributed: true,
      });
      for (const timer of timers) clearTimeout(timer);
      const after = run.trace.filter((t) => t.sentAt >= stoppedAt);
      const failed = after.filter((t) => t.status >= 500 || t.status === 0);
      const touched = after.filter((t) => t.attempts > 1 || t.status >= 500 || t.status === 0);
      results.push({
        level,
        stopped: stages.flat().length,
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
