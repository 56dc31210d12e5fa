import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { HolderRecord } from "../../src/balancer/lease-ledger.ts";
import { EMPTY_REPORT } from "../../src/balancer/lease-slots.ts";
import type { LeaseRequest, NodeGate } from "../../src/durable/gate/node-gate.ts";
import { gateStub } from "../../src/durable/stubs.ts";
import { HEAVY_TEST } from "../timeouts.ts";
import { addNodes, nodeStats, serviceGateway, serviceName, setBehaviour } from "./helpers.ts";

const ejection = { consecutiveFailures: 2, baseMs: 60_000, maxMs: 60_000, maxEjectedShare: 0.5 };

function leaseRequest(service: string, holder: string, overrides: Partial<LeaseRequest> = {}) {
  return {
    holder,
    want: 100,
    report: EMPTY_REPORT,
    gateLimit: 16,
    ttlMs: 1_000,
    service,
    nodeId: "n1",
    ejection,
    totalNodes: 4,
    ...overrides,
  } satisfies LeaseRequest;
}

describe("node gate leases", () => {
  it("counts what it leased across a restart and grants nothing beyond it", async () => {
    const service = serviceName();
    const gate = gateStub(env, { service, nodeId: "n1" });
    expect((await gate.lease(leaseRequest(service, "a", { ttlMs: 60_000 }))).slots).toBe(14);
    await evictDurableObject(gate);
    expect((await gate.stats()).leased).toBe(14);
    expect((await gate.lease(leaseRequest(service, "b", { ttlMs: 60_000 }))).slots).toBe(0);
  });

  it("gives a dead holder's slots back once its lease has run out, and forgets the holder", async () => {
    const service = serviceName();
    const gate = gateStub(env, { service, nodeId: "n1" });
    const ttl = { ttlMs: 60_000 };
    expect((await gate.lease(leaseRequest(service, "dead", ttl))).slots).toBe(14);
    // The holder never calls again. Rather than wait a TTL out, its stored grant is moved into the
    // past and the gate restarted from storage, as a gate evicted while the lease ran out would be.
    await runInDurableObject(gate, (_g: NodeGate, state) => {
      const record = state.storage.kv.get<HolderRecord>("lease:dead") as HolderRecord;
      const ended = Date.now() - 1;
      state.storage.kv.put("lease:dead", {
        ...record,
        askedAt: ended - ttl.ttlMs,
        grants: record.grants.map((g) => ({ ...g, expiresAt: ended })),
      });
    });
    await evictDurableObject(gate);
    expect((await gate.stats()).leased).toBe(0);
    expect((await gate.lease(leaseRequest(service, "alive", ttl))).slots).toBe(14);
    const stored = await runInDurableObject(gate, (_g: NodeGate, state) =>
      state.storage.kv.get("lease:dead"),
    );
    expect(stored).toBeUndefined();
  });

  it("applies a failure report after the successes it carries, and leases nothing once ejected", async () => {
    const service = serviceName();
    const gate = gateStub(env, { service, nodeId: "n1" });
    const report = { successes: 3, latency: { count: 3, sumMs: 30, maxMs: 12 } };
    expect((await gate.lease(leaseRequest(service, "a", { failure: true }))).slots).toBe(14);
    // Successes reset the streak before the failure that came after them: one, not two.
    await gate.lease(leaseRequest(service, "a", { failure: true, report }));
    expect((await gate.stats()).health.n1?.streak).toBe(1);
    const answer = await gate.lease(leaseRequest(service, "a", { failure: true }));
    expect(answer.ejectedUntil).toBeGreaterThan(Date.now());
    expect(answer.slots).toBe(0);
    const stats = await gate.stats();
    expect(stats.leasedSuccesses).toBe(3);
    expect(stats.leasedFailures).toBe(3);
  });

  it(
    "keeps gate-path dispatches to what the leases leave, and admits the waiting when a lease ends",
    HEAVY_TEST,
    async () => {
      const [node] = await addNodes(1, { behaviour: { delayMs: 1_500 } });
      const service = serviceName();
      const gate = gateStub(env, { service, nodeId: node!.id });
      // A stranger holds 14 of 16 slots for one second and never uses them: the gate keeps 2.
      const held = await gate.lease(leaseRequest(service, "stranger", { nodeId: node!.id }));
      expect(held.slots).toBe(14);
      // Six attempts of 1.5 s through the gate: two start at once, four wait. When the lease ends
      // (before the first two are done) the timer it armed lets the four go too. Should the attempts
      // arrive only after the lease ended, all six start together: either way more than two overlap.
      const options = {
        service,
        nodeId: node!.id,
        gateLimit: 16,
        queueTimeoutMs: 20_000,
        perTryTimeoutMs: 10_000,
        ejection,
        totalNodes: 1,
        egress: { kind: "internet" as const },
      };
      const request = { url: `${node!.url}/`, method: "GET", headers: [], body: null };
      const results = await Promise.all(
        Array.from({ length: 6 }, () => gate.forward(request, options)),
      );
      expect(results.map((r) => r.kind)).toEqual(results.map(() => "response"));
      expect((await gate.stats()).peakInFlight).toBeGreaterThan(2);
    },
  );

  it("serves a node whose gate limit is 1 on the gate path only, strictly one at a time", async () => {
    const [node] = await addNodes(1, { behaviour: { delayMs: 10 } });
    const svc = serviceGateway([node!], { gate: { limit: 1 } });
    const responses = await Promise.all(Array.from({ length: 8 }, () => svc.fetch("/")));
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    expect((await nodeStats(node!)).peakHandshakes).toBe(1);
    const stats = await gateStub(env, { service: svc.name, nodeId: node!.id }).stats();
    expect(stats.forwarded).toBe(8);
    expect(stats.leaseCalls).toBe(0);
  });

  it("reports a failure on a leased slot at once, so the gate's streak sees it", async () => {
    const nodes = await addNodes(2);
    await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
    const svc = serviceGateway(nodes, {
      ejection: { ...ejection, consecutiveFailures: 100 },
      retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
      slowStartMs: 0,
    });
    for (let i = 0; i < 4; i++) expect((await svc.fetch("/")).status).toBe(200);
    const stats = await gateStub(env, { service: svc.name, nodeId: nodes[0]!.id }).stats();
    expect(stats.health[nodes[0]!.id]?.streak).toBe((await nodeStats(nodes[0]!)).requests);
    expect(stats.forwarded + stats.leasedFailures).toBe((await nodeStats(nodes[0]!)).requests);
  });

  it("sends a streamed upload through the gate, whose own slots it may hold for the upload", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, { retry: { maxReplayBodyBytes: 0 }, slowStartMs: 0 });
    expect((await svc.fetch("/")).status).toBe(200); // leases taken for the node
    const gate = gateStub(env, { service: svc.name, nodeId: nodes[0]!.id });
    const before = (await gate.stats()).forwarded;
    const body = new Blob([new Uint8Array(64 * 1024)]).stream();
    const response = await svc.fetch("/upload", { method: "POST", body });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { bodyBytes: number }).bodyBytes).toBe(64 * 1024);
    expect((await gate.stats()).forwarded).toBe(before + 1);
  });
});
