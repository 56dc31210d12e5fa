import { describe, expect, it } from "vitest";
import type { MemberNode } from "../../src/balancer/membership.ts";
import type { ScopeLevel } from "../../src/balancer/scope.ts";
import { newCounters } from "../../src/dispatch/counters.ts";
import { KNOWN_RETENTION_MS, MembershipCache } from "../../src/dispatch/membership-cache.ts";
import { ServiceRuntime } from "../../src/dispatch/service-runtime.ts";
import { service } from "./dispatch-world.ts";

const cluster: ScopeLevel[] = [{ kind: "cluster" }];
const member = (id: string): MemberNode => ({
  id,
  url: `http://${id}.test`,
  weight: 1,
  healthy: true,
  since: 0,
});

// A discovery answerer that lists four new nodes every round, forever: the isolate's per-node
// state must stay bounded by what is listed now and lately, and the ejection cap's total by what
// is listed now.
describe("an isolate's membership under churn", () => {
  it("remembers only nodes listed now or within the retention, over 50 rounds", async () => {
    const svc = service({ nodes: [] });
    const runtime = new ServiceRuntime(svc);
    const cache = new MembershipCache(
      svc,
      runtime.liveConfig,
      { until: () => 0, ends: () => [] },
      newCounters(),
      runtime.log,
    );
    const stepMs = 10_000;
    let now = 1_000_000;
    for (let round = 0; round < 50; round++) {
      const nodes = [0, 1, 2, 3].map((i) => member(`r${round}-${i}`));
      await cache.refresh(
        async () => ({ version: round + 1, levels: [{ scope: { kind: "cluster" }, nodes }] }),
        cluster,
        now,
      );
      // A refresh after the first routes on the cached copy while its answer comes in.
      for (let i = 0; i < 10; i++) await Promise.resolve();
      // Every node of the round was ejected once: those records go with the node.
      for (const node of nodes) cache.markEjected(node.id, now + 1_000);
      expect(cache.listedCount).toBe(4);
      now += stepMs;
    }
    const rounds = Math.ceil(KNOWN_RETENTION_MS / stepMs) + 1;
    expect(cache.rememberedCount).toBeLessThanOrEqual(4 * rounds);
    expect(cache.node("r0-0")).toBeUndefined();
    expect(cache.node("r49-0")).toBeDefined();
    // A node unlisted but within the retention is still known to a dispatch that holds it.
    expect(cache.node("r48-0")).toBeDefined();
  });
});
