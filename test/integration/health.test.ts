import { describe, expect, it } from "vitest";
import { refreshRound } from "./cluster-helpers.ts";
import {
  addNodes,
  eventually,
  gateway,
  serviceName,
  setBehaviour,
  type TestNode,
} from "./helpers.ts";

const auth = { authorization: "Bearer test-admin-token-0123456789abcdef" };

/**
 * A gateway with one service over `nodes` and the given thresholds. Probes run once when the
 * service first has traffic and then a minute apart: the tests drive every further round.
 */
function probedGateway(
  name: string,
  nodes: readonly TestNode[],
  thresholds: { healthyThreshold: number; unhealthyThreshold: number },
  ejection: Record<string, number>,
) {
  return gateway({
    services: [
      {
        name,
        nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
        health: { path: "/health", intervalMs: 60_000, timeoutMs: 1_000, ...thresholds },
        ejection,
        slowStartMs: 0,
      },
    ],
  });
}

/** Which nodes answer `count` sequential requests, each of which must succeed. */
async function nodesServing(
  fetchVia: (path: string, init?: RequestInit) => Promise<Response>,
  service: string,
  count: number,
): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const response = await fetchVia(`/s/${service}/`);
    expect(response.status).toBe(200);
    await response.body?.cancel();
    seen.add(response.headers.get("x-roundhouse-node") ?? "");
  }
  return seen;
}

describe("active health checks", () => {
  it("takes a node out after failing probes and brings it back after passing ones", async () => {
    const nodes = await addNodes(3);
    const name = serviceName("hc");
    const fetchVia = probedGateway(
      name,
      nodes,
      { healthyThreshold: 2, unhealthyThreshold: 2 },
      { consecutiveFailures: 1000 },
    );
    const served = (count: number) => nodesServing(fetchVia, name, count);
    const healthOf = async (id: string) => {
      const detail = (await (
        await fetchVia(`/_gw/services/${name}`, { headers: auth })
      ).json()) as {
        nodes: { id: string; healthy: boolean }[];
      };
      return detail.nodes.find((n) => n.id === id)?.healthy;
    };
    expect(await served(6)).toEqual(new Set(nodes.map((n) => n.id)));

    // Two rounds of probes, each after the change: two failures in a row (a round the service's
    // first traffic started may add one more, which changes nothing).
    await setBehaviour(nodes[0]!, { mode: "fail" });
    for (let round = 0; round < 2; round++) await refreshRound(name);
    expect(await healthOf(nodes[0]!.id)).toBe(false);
    // Isolates take the change at their next membership refresh, within a second.
    await eventually(async () => !(await served(6)).has(nodes[0]!.id));

    await setBehaviour(nodes[0]!, { mode: "ok" });
    for (let round = 0; round < 2; round++) await refreshRound(name);
    expect(await healthOf(nodes[0]!.id)).toBe(true);
    await eventually(async () => (await served(6)).has(nodes[0]!.id));
  });
});

describe("passing health checks end an ejection early", () => {
  it("readmits an ejected node once its checks pass again", async () => {
    const nodes = await addNodes(3);
    const name = serviceName("unej");
    const fetchVia = probedGateway(
      name,
      nodes,
      { healthyThreshold: 1, unhealthyThreshold: 50 },
      { consecutiveFailures: 2, baseMs: 600_000, maxMs: 600_000 },
    );
    const served = (count: number) => nodesServing(fetchVia, name, count);
    await setBehaviour(nodes[0]!, { mode: "fail" });
    // Passive ejection takes it out for ten minutes…
    await eventually(async () => !(await served(6)).has(nodes[0]!.id));
    await setBehaviour(nodes[0]!, { mode: "ok" });
    // …but its next passing check brings it back long before that.
    await refreshRound(name);
    await eventually(async () => (await served(6)).has(nodes[0]!.id));
  });
});
