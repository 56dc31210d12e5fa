import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { StreamBench } from "../../src/durable/bench/stream-bench.ts";
import { RotationCoordinator } from "../../src/durable/coordinator/rotation-coordinator.ts";
import { NodeGate } from "../../src/durable/gate/node-gate.ts";
import { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { PeerShard } from "../../src/durable/sync/peer-shard.ts";
import { RouteSync } from "../../src/durable/sync/route-sync.ts";

/** The methods Workers RPC exposes on a Durable Object class: its public prototype members. */
function rpcSurface(cls: { prototype: object }): string[] {
  return Object.getOwnPropertyNames(cls.prototype)
    .filter((name) => name !== "constructor")
    .sort();
}

// TypeScript's `private` is gone at run time and Workers RPC calls any public method, so each
// object's helpers are #private: what a stub can call is exactly what its callers use.
describe("Durable Object RPC surfaces", () => {
  it.each([
    ["NodeGate", NodeGate, ["forward", "invoke", "lease", "readmit", "stats"]],
    ["StreamBench", StreamBench, ["measure"]],
    [
      "LiveNodes",
      LiveNodes,
      ["alarm", "applySynced", "operate", "peek", "register", "remove", "report", "view"],
    ],
    [
      "RotationCoordinator",
      RotationCoordinator,
      [
        "applySyncedEjection",
        "ejectedNodes",
        "lease",
        "metrics",
        "readmit",
        "reportMetrics",
        "requestEjection",
        "stats",
      ],
    ],
    [
      "RouteSync",
      RouteSync,
      [
        "alarm",
        "applyRemote",
        "bucketChanges",
        "checkNonce",
        "configure",
        // The dashboard's session generation, on the instance named "dashboard" only.
        "dashboardGeneration",
        "digest",
        "endDashboardSessions",
        // Every entry, tombstones included: for tests and diagnosis.
        "entries",
        "ownSince",
        "record",
        "routes",
        "stats",
      ],
    ],
    ["PeerShard", PeerShard, ["alarm", "stats", "status", "wake"]],
  ] as const)("%s exposes only what its callers use", (_name, cls, expected) => {
    expect(rpcSurface(cls)).toEqual([...expected].sort());
  });

  it("refuses a call to a helper through a stub", async () => {
    const stub = liveNodesOf(env, "rpc-surface");
    const call = (stub as unknown as { save(): Promise<void> }).save();
    const outcome = await Promise.resolve(call).then(
      () => "resolved",
      (error: unknown) => String(error),
    );
    expect(outcome).toMatch(/does not implement "save"/);
  });
});
