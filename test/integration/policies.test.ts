import { describe, expect, it } from "vitest";
import { addNodes, nodeStats, serviceGateway } from "./helpers.ts";

describe("least_outstanding", () => {
  it("sends less to a slow node under concurrency", async () => {
    const nodes = await addNodes(3);
    const [slow, ...fast] = nodes as [(typeof nodes)[number], ...typeof nodes];
    const { setBehaviour } = await import("./helpers.ts");
    await setBehaviour(slow, { delayMs: 150 });
    const svc = serviceGateway(nodes, { policy: "least_outstanding" });
    // Closed-loop clients: a fast node frees up within milliseconds, the slow one holds its request.
    const client = async () => {
      for (let i = 0; i < 10; i++) {
        const response = await svc.fetch("/");
        expect(response.status).toBe(200);
        await response.body?.cancel();
      }
    };
    await Promise.all(Array.from({ length: 6 }, client));
    const slowCount = (await nodeStats(slow)).requests;
    const fastCounts = await Promise.all(fast.map(async (n) => (await nodeStats(n)).requests));
    expect(slowCount).toBeLessThan(Math.min(...fastCounts));
  });
});

describe("latency-aware ejection", () => {
  it("takes a node out while it answers much slower than its peers", async () => {
    const nodes = await addNodes(3);
    const { setBehaviour } = await import("./helpers.ts");
    await setBehaviour(nodes[0]!, { delayMs: 120 });
    const svc = serviceGateway(nodes, {
      latencyEjection: { factor: 3, minSamples: 3, ejectMs: 60_000, floorMs: 50 },
    });
    for (let i = 0; i < 15; i++) await (await svc.fetch("/")).body?.cancel();
    const before = (await nodeStats(nodes[0]!)).requests;
    expect(before).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 15; i++) await (await svc.fetch("/")).body?.cancel();
    expect((await nodeStats(nodes[0]!)).requests).toBe(before);
  });
});
