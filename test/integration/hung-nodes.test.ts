import { describe, expect, inject, it } from "vitest";
import { HEAVY_TEST } from "../timeouts.ts";
import { addCluster, discoveringService, refreshRound, removeCluster } from "./cluster-helpers.ts";
import { addNode, eventually, gateway, nodeStats, serviceName, setBehaviour } from "./helpers.ts";

/** Zeroes a reference node's counters; its peaks restart from what is open now. */
async function resetStats(node: { id: string }): Promise<void> {
  const response = await fetch(`${inject("fleetUrl")}/nodes/${node.id}/reset-stats`, {
    method: "POST",
  });
  expect(response.status).toBe(204);
}

// What a hung node holds open while the gateway probes it and asks it for /localnodes: a request
// given up on after its timeout is closed before the gateway sends the next in its place. Rounds
// are driven with refreshRound; the one wait is on the node noticing the last close.

describe("connections a hung node holds open", () => {
  it(
    "health probes: at most six at once, and none once the round is over",
    HEAVY_TEST,
    async () => {
      // Twelve service nodes on one reference node (each its own path), so the reference node
      // counts every probe of the round: six at a time, each lane going on to the next node.
      const backend = await addNode();
      const name = serviceName("hung-probe");
      const fetchVia = gateway({
        services: [
          {
            name,
            nodes: Array.from({ length: 12 }, (_, i) => ({
              id: `n${i}`,
              url: `${backend.url}/n${i}`,
            })),
            health: { path: "/health", intervalMs: 60_000, timeoutMs: 100 },
          },
        ],
      });
      // The first request starts the service's live-node object and its first round of probes.
      const first = await fetchVia(`/s/${name}/`);
      expect(first.status).toBe(200);
      await first.body?.cancel();
      await refreshRound(name);
      await setBehaviour(backend, { mode: "hang" });
      await resetStats(backend);
      await refreshRound(name);
      await refreshRound(name);
      const after = await nodeStats(backend);
      // Two rounds of twelve probes, each given up on after 100 ms.
      expect(after.requests).toBe(24);
      expect(after.peakHandshakes).toBeGreaterThan(1);
      expect(after.peakHandshakes).toBeLessThanOrEqual(6);
      await eventually(async () => (await nodeStats(backend)).inHandshake === 0);
    },
  );

  it(
    "discovery: a hung seed holds one request at a time, and none once the rounds are over",
    HEAVY_TEST,
    async () => {
      const cluster = await addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 1 }] });
      const [seed] = cluster.nodes;
      // Hung from the start: every connection the seed ever sees is a discovery request.
      await setBehaviour(seed!, { discovery: "hang" });
      const svc = discoveringService(cluster, { dc: "dc1" }, { discovery: { timeoutMs: 100 } });
      // The first request starts the live-node object (and a round); nothing is discovered.
      await (await svc.fetch()).body?.cancel();
      for (let round = 0; round < 3; round++) await refreshRound(svc.name);
      const stats = await nodeStats(seed!);
      expect(stats.peakConnections).toBe(1);
      await eventually(async () => (await nodeStats(seed!)).connections === 0);
      await removeCluster(cluster);
    },
  );
});
