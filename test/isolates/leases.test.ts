import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import type { BackendNode } from "../../backend/node-types.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";
import { HEAVY_TEST } from "../timeouts.ts";

// Three gateway Workers in one Miniflare instance, each its own isolate with its own lease
// client, sharing the Durable Objects: what several isolates of one deployed Worker look like.

const ISOLATES = 3;
const ADMIN = { authorization: "Bearer isolates-admin-token-0123456789abcdef" };

interface IsolateCounters {
  dispatches: number;
  gateCalls: number;
  directAttempts: number;
  gateLeaseCalls: number;
}

interface NodeView {
  id: string;
  failureStreak: number;
  ejectedUntil: number | null;
  leased: number;
}

let fleet: Fleet;
let nodes: BackendNode[];
let gateways: GatewayIsolates;

const service = (name: string, nodeList: BackendNode[], extra: Record<string, unknown>) => ({
  name,
  nodes: nodeList.map((n) => ({ id: n.id, url: n.url })),
  allow: ["127.0.0.0/8"],
  slowStartMs: 0,
  retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
  ...extra,
});

beforeAll(async () => {
  fleet = await startFleet({ host: "127.0.0.1" });
  nodes = [];
  for (let i = 0; i < 6; i++) nodes.push(await fleet.addNode({ behaviour: { delayMs: 20 } }));
  const ejection = { consecutiveFailures: 3, baseMs: 60_000, maxMs: 60_000, maxEjectedShare: 0.5 };
  gateways = await startGatewayIsolates(ISOLATES, {
    services: [
      service("limit-4", [nodes[0] as BackendNode], { gate: { limit: 4 } }),
      service("limit-1", [nodes[1] as BackendNode], { gate: { limit: 1 } }),
      service("wide", [nodes[2] as BackendNode], { gate: { limit: 64 } }),
      service("failing", [nodes[3], nodes[4]] as BackendNode[], { ejection }),
      service("failing-gate", [nodes[5], nodes[4]] as BackendNode[], {
        ejection,
        gate: { lease: false },
      }),
    ],
  });
}, 60_000);

afterAll(async () => {
  await gateways?.close();
  await fleet?.close();
});

async function counters(): Promise<IsolateCounters[]> {
  return Promise.all(
    Array.from({ length: ISOLATES }, async (_, i) =>
      (await gateways.fetch(i, "/_gw/stats", { headers: ADMIN })).json(),
    ),
  ) as Promise<IsolateCounters[]>;
}

function total(list: IsolateCounters[], key: keyof IsolateCounters): number {
  return list.reduce((sum, c) => sum + c[key], 0);
}

async function burst(name: string, count: number): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => gateways.fetch(i % ISOLATES, `/s/${name}/`)),
  );
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  return responses.map((r) => r.status);
}

async function nodeView(name: string, id: string): Promise<NodeView> {
  const body = (await (
    await gateways.fetch(0, `/_gw/services/${name}`, { headers: ADMIN })
  ).json()) as {
    nodes: NodeView[];
  };
  return body.nodes.find((n) => n.id === id) as NodeView;
}

describe("capacity leases across isolates", () => {
  it(
    "never lets one node see more handshakes than its limit, leases and gate together",
    HEAVY_TEST,
    async () => {
      const node = nodes[0] as BackendNode;
      for (let round = 0; round < 3; round++) {
        const statuses = await burst("limit-4", 30);
        expect(statuses).toEqual(statuses.map(() => 200));
      }
      expect(node.stats().requests).toBe(90);
      expect(node.stats().peakHandshakes).toBeGreaterThanOrEqual(2);
      expect(node.stats().peakHandshakes).toBeLessThanOrEqual(4);
      expect(total(await counters(), "directAttempts")).toBeGreaterThan(0);
    },
  );

  it("keeps a limit-1 node strictly serialized in its gate, with no lease granted", async () => {
    const node = nodes[1] as BackendNode;
    const before = await counters();
    const statuses = await burst("limit-1", 24);
    expect(statuses).toEqual(statuses.map(() => 200));
    expect(node.stats().peakHandshakes).toBe(1);
    const after = await counters();
    expect(total(after, "gateCalls") - total(before, "gateCalls")).toBe(24);
    expect(total(after, "directAttempts") - total(before, "directAttempts")).toBe(0);
    expect((await nodeView("limit-1", node.id)).leased).toBe(0);
  });

  it("takes the gate off the path of successful requests", HEAVY_TEST, async () => {
    const before = await counters();
    for (let i = 0; i < 25; i++)
      expect(await burst("wide", 6)).toEqual([200, 200, 200, 200, 200, 200]);
    const after = await counters();
    const dispatches = total(after, "dispatches") - total(before, "dispatches");
    const objectCalls =
      total(after, "gateCalls") -
      total(before, "gateCalls") +
      total(after, "gateLeaseCalls") -
      total(before, "gateLeaseCalls");
    expect(dispatches).toBe(150);
    // A first lease per isolate, possibly one early call for more slots, and the attempts that
    // came before the first grant: a few calls, not one per request.
    expect(objectCalls).toBeLessThanOrEqual(6 * ISOLATES);
    expect((await nodeView("wide", (nodes[2] as BackendNode).id)).leased).toBeGreaterThan(0);
  });

  it("ejects a failing node on the same streak as the gate path", HEAVY_TEST, async () => {
    for (const [name, failing] of [
      ["failing", nodes[3]],
      ["failing-gate", nodes[5]],
    ] as const) {
      failing?.setBehaviour({ mode: "fail", failStatus: 503 });
      // Sequential GETs over the isolates: each failure on the failing node is retried elsewhere.
      for (let i = 0; i < 18; i++) {
        const response = await gateways.fetch(i % ISOLATES, `/s/${name}/`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
      const view = await nodeView(name, (failing as BackendNode).id);
      expect(view.ejectedUntil).toBeGreaterThan(Date.now());
      const hits = (failing as BackendNode).stats().requests;
      if (name === "failing-gate") expect(hits).toBe(3);
      // On leases, the isolates that did not cause the ejection each learn of it from their own
      // next failure report, so each may send one more attempt before it stays away.
      else expect(hits).toBeGreaterThanOrEqual(3);
      if (name === "failing") expect(hits).toBeLessThanOrEqual(3 + ISOLATES - 1);
    }
  });
});
