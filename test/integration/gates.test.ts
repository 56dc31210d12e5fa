import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { coordinatorOf, gateStub } from "../../src/durable/stubs.ts";
import { ATTEMPT_PATHS, addNodes, nodeStats, serviceGateway, setBehaviour } from "./helpers.ts";

describe("per-node gates", () => {
  it("spreads a burst of 64 over the nodes without exceeding any gate's limit", async () => {
    const nodes = await addNodes(4, { behaviour: { delayMs: 40 } });
    const svc = serviceGateway(nodes, { gate: { limit: 2 } });
    const responses = await Promise.all(Array.from({ length: 64 }, () => svc.fetch("/")));
    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
    await Promise.all(responses.map((r) => r.body?.cancel()));
    for (const node of nodes) {
      const stats = await nodeStats(node);
      expect(stats.requests).toBe(16);
      expect(stats.peakHandshakes).toBeGreaterThanOrEqual(1);
      expect(stats.peakHandshakes).toBeLessThanOrEqual(2);
    }
  });

  it("with lock scope global, holds one lock for the whole service", async () => {
    const nodes = await addNodes(3, { behaviour: { delayMs: 20 } });
    const svc = serviceGateway(nodes, { gate: { limit: 1 }, lockScope: "global" });
    const responses = await Promise.all(Array.from({ length: 12 }, () => svc.fetch("/")));
    await Promise.all(responses.map((r) => r.body?.cancel()));
    const peaks = await Promise.all(nodes.map(async (n) => (await nodeStats(n)).peakHandshakes));
    expect(peaks).toEqual([1, 1, 1]);
    const stub = gateStub(env, { service: svc.name, nodeId: "", global: true });
    expect((await stub.stats()).peakInFlight).toBe(1);
  });

  it("leases rotation positions: one coordinator call per lease of 32 dispatches", async () => {
    const nodes = await addNodes(2);
    const svc = serviceGateway(nodes, { gate: { lease: false } });
    const before = await svc.stats();
    for (let i = 0; i < 64; i++) await (await svc.fetch("/")).body?.cancel();
    const after = await svc.stats();
    expect(after.dispatches - before.dispatches).toBe(64);
    expect(after.coordinatorCalls - before.coordinatorCalls).toBe(2);
    expect(after.gateCalls - before.gateCalls).toBe(64);
  });
});

describe.each(ATTEMPT_PATHS)("passive ejection %s", (_path, onPath) => {
  const ejection = { consecutiveFailures: 2, baseMs: 60_000, maxMs: 120_000, maxEjectedShare: 0.5 };

  it("ejects a failing node after consecutive failures, and keeps it out across a restart", async () => {
    const nodes = await addNodes(3);
    await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
    const svc = serviceGateway(nodes, {
      ...onPath,
      ejection,
      retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
    });
    for (let i = 0; i < 9; i++) expect((await svc.fetch("/")).status).toBe(200);
    const gate = gateStub(env, { service: svc.name, nodeId: nodes[0]!.id });
    const ejectedUntil = (await gate.stats()).health[nodes[0]!.id]?.ejectedUntil ?? 0;
    expect(ejectedUntil).toBeGreaterThan(Date.now());

    const hitsBefore = (await nodeStats(nodes[0]!)).requests;
    for (let i = 0; i < 9; i++) await (await svc.fetch("/")).body?.cancel();
    expect((await nodeStats(nodes[0]!)).requests).toBe(hitsBefore);

    await evictDurableObject(gate);
    expect((await gate.stats()).health[nodes[0]!.id]?.ejectedUntil).toBe(ejectedUntil);
  });

  it("never ejects more than the allowed share of a service's nodes", async () => {
    const nodes = await addNodes(3);
    await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
    await setBehaviour(nodes[1]!, { mode: "fail", failStatus: 503 });
    const svc = serviceGateway(nodes, {
      ...onPath,
      ejection,
      retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
    });
    for (let i = 0; i < 12; i++) expect((await svc.fetch("/")).status).toBe(200);
    const coordinator = coordinatorOf(env, svc.name);
    expect((await coordinator.stats()).ejected).toBe(1);
  });
});
