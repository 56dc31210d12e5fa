import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { addNodes, eventually, gateway, nodeStats, serviceName, type TestNode } from "./helpers.ts";
import { AUTH, addPeers, gatewayId, peerStats, signedInit, syncGateway } from "./peer-helpers.ts";

// An operator's drain and weight at runtime: the admin routes, routing by them, persistence,
// and peer route sync.

const json = { ...AUTH, "content-type": "application/json" };

function operated(nodes: TestNode[], extra: Record<string, unknown> = {}) {
  const name = serviceName("ops");
  const fetch = gateway({
    services: [
      {
        name,
        nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
        slowStartMs: 0,
        retry: { maxAttempts: 1 },
        ...extra,
      },
    ],
  });
  const node = (id: string) => `/_gw/admin/services/${name}/nodes/${id}`;
  return {
    name,
    send: async (init?: RequestInit) => {
      const response = await fetch(`/s/${name}/`, init);
      await response.body?.cancel();
      return response;
    },
    drain: (id: string) => fetch(`${node(id)}/drain`, { method: "POST", headers: AUTH }),
    undrain: (id: string) => fetch(`${node(id)}/drain`, { method: "DELETE", headers: AUTH }),
    weigh: (id: string, body: unknown) =>
      fetch(node(id), { method: "PATCH", headers: json, body: JSON.stringify(body) }),
    detail: async () =>
      (await (await fetch(`/_gw/services/${name}`, { headers: AUTH })).json()) as {
        nodes: { id: string; draining: boolean; weight: number }[];
      },
    fetch,
  };
}

const declared = (nodes: TestNode[]) => nodes.map(({ id, url }) => ({ id, url }));
const requestsOf = async (node: TestNode) => (await nodeStats(node)).requests;

describe("drain", () => {
  it("lets in-flight requests of a burst finish and sends the node no new ones", async () => {
    const nodes = await addNodes(3, { behaviour: { delayMs: 150 } });
    const [victim] = nodes as [TestNode];
    const svc = operated(nodes);
    const burst = Array.from({ length: 12 }, () => svc.send());
    // Drained while the burst is in flight on every node, the victim included.
    await eventually(async () => (await nodeStats(victim)).inHandshake > 0);
    const drained = await svc.drain(victim.id);
    expect(drained.status).toBe(200);
    expect(await drained.json()).toEqual({ nodeId: victim.id, draining: true, weight: null });
    const answers = await Promise.all(burst);
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    expect(answers.some((r) => r.headers.get("x-roundhouse-node") === victim.id)).toBe(true);

    const before = await requestsOf(victim);
    const after = await Promise.all(Array.from({ length: 9 }, () => svc.send()));
    expect(
      after.every((r) => r.status === 200 && r.headers.get("x-roundhouse-node") !== victim.id),
    ).toBe(true);
    expect(await requestsOf(victim)).toBe(before);
    expect((await svc.detail()).nodes.find((n) => n.id === victim.id)?.draining).toBe(true);

    const back = await svc.undrain(victim.id);
    expect(await back.json()).toEqual({ nodeId: victim.id, draining: false, weight: null });
    for (let i = 0; i < 6; i++) await svc.send();
    expect(await requestsOf(victim)).toBeGreaterThan(before);
    expect((await svc.detail()).nodes.find((n) => n.id === victim.id)?.draining).toBe(false);
  });

  it("keeps even a panicking scope off a drained node", async () => {
    const nodes = await addNodes(2);
    const svc = operated(nodes, { panicThreshold: 1 });
    await svc.drain(nodes[0]!.id);
    for (let i = 0; i < 4; i++) {
      expect((await svc.send()).headers.get("x-roundhouse-node")).toBe(nodes[1]!.id);
    }
    // With every node drained there is nowhere to go: 503, not a drained node.
    await svc.drain(nodes[1]!.id);
    const none = await svc.fetch(`/s/${svc.name}/`);
    expect(none.status).toBe(503);
    expect(((await none.json()) as { type: string }).type).toContain("no-node-available");
  });

  it("outlives the live-node object's restart", async () => {
    const nodes = await addNodes(2);
    const svc = operated(nodes);
    await svc.drain(nodes[0]!.id);
    await svc.weigh(nodes[1]!.id, { weight: 7 });
    const stub = liveNodesOf(env, svc.name);
    await evictDurableObject(stub);
    const after = await svc.detail();
    expect(after.nodes.find((n) => n.id === nodes[0]!.id)?.draining).toBe(true);
    expect(after.nodes.find((n) => n.id === nodes[1]!.id)?.weight).toBe(7);
  });

  it("answers 404 for an unknown node or service and 401 without the token", async () => {
    const nodes = await addNodes(1);
    const svc = operated(nodes);
    const missing = await svc.drain("nope");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("application/problem+json");
    const unknown = await svc.fetch("/_gw/admin/services/nope/nodes/x/drain", {
      method: "POST",
      headers: AUTH,
    });
    expect(unknown.status).toBe(404);
    const anonymous = await svc.fetch(
      `/_gw/admin/services/${svc.name}/nodes/${nodes[0]!.id}/drain`,
      {
        method: "POST",
      },
    );
    expect(anonymous.status).toBe(401);
  });
});

describe("weight at runtime", () => {
  it("changes a node's share of the rotation, and null returns it to the declared weight", async () => {
    const nodes = await addNodes(3);
    const [heavy] = nodes as [TestNode];
    const svc = operated(nodes);
    const set = await svc.weigh(heavy.id, { weight: 4 });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({ nodeId: heavy.id, draining: false, weight: 4 });
    const counts = async (n: number) => {
      const seen = new Map<string | null, number>();
      for (let i = 0; i < n; i++) {
        const node = (await svc.send()).headers.get("x-roundhouse-node");
        seen.set(node, (seen.get(node) ?? 0) + 1);
      }
      return seen;
    };
    // A round of 4 + 1 + 1: four of every six requests.
    expect((await counts(36)).get(heavy.id)).toBe(24);
    expect((await svc.detail()).nodes.find((n) => n.id === heavy.id)?.weight).toBe(4);
    await svc.weigh(heavy.id, { weight: null });
    expect((await counts(30)).get(heavy.id)).toBe(10);
  });

  it.each([
    [{ weight: 0 }],
    [{ weight: 101 }],
    [{ weight: "4" }],
    [{ weight: 2, drain: true }],
    [{}],
  ])("refuses %j with a 400 problem", async (body) => {
    const nodes = await addNodes(1);
    const svc = operated(nodes);
    const response = await svc.weigh(nodes[0]!.id, body);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });

  it("is documented in the OpenAPI document", async () => {
    const svc = operated([]);
    const doc = (await (await svc.fetch("/_gw/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths["/admin/services/{service}/nodes/{nodeId}/drain"] ?? {})).toEqual(
      expect.arrayContaining(["post", "delete"]),
    );
    expect(doc.paths["/admin/services/{service}/nodes/{nodeId}"]?.patch).toBeDefined();
  });
});

/** Two nodes behind a gateway with one peer, and a way to post that peer's signed changes. */
async function peeredNodes(prefix: string) {
  const [peer] = await addPeers(1);
  const nodes = await addNodes(2);
  const service = serviceName(prefix);
  const id = gatewayId();
  const gw = syncGateway({
    gatewayId: id,
    peers: [peer!],
    service,
    nodes: declared(nodes),
    serviceOverrides: { slowStartMs: 0 },
  });
  const send = async (changes: unknown[]) => {
    const body = JSON.stringify({ origin: "remote", changes });
    return gw.fetch("/_gw/peer/changes", await signedInit(id, "POST", "/_gw/peer/changes", body));
  };
  return { nodes, service, gw, send };
}

describe("drain and weight across peers", () => {
  it("records an operator's drain and weight for the peers", async () => {
    const [peer] = await addPeers(1);
    const nodes = await addNodes(1);
    const service = serviceName("opsync");
    const id = gatewayId();
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service, nodes: declared(nodes) });
    const path = `/_gw/admin/services/${service}/nodes/${nodes[0]!.id}`;
    expect((await gw.fetch(`${path}/drain`, { method: "POST", headers: AUTH })).status).toBe(200);
    const patch = { method: "PATCH", headers: json, body: JSON.stringify({ weight: 3 }) };
    expect((await gw.fetch(path, patch)).status).toBe(200);
    // Recorded in the route table before each answer, as a registration is.
    const entries = await gw.table().entries();
    expect(entries.find((e) => e.key === `${service}/${nodes[0]!.id}`)).toMatchObject({
      draining: true,
      weight: 3,
    });
    // Then fanned out in the table's round and the shards'.
    await gw.syncRound();
    const kinds = (await peerStats(peer!)).received
      .filter((c) => c.key === `${service}/${nodes[0]!.id}`)
      .map((c) => c.kind);
    expect(kinds).toEqual(expect.arrayContaining(["drain", "weigh"]));
  });

  it("applies a peer's drain, and the later of two writes wins", async () => {
    const { nodes, service, gw, send } = await peeredNodes("opremote");
    const key = `${service}/${nodes[0]!.id}`;
    const drain = (draining: boolean, wallMs: number) => ({
      key,
      kind: "drain",
      draining,
      stamp: encodeStamp({ wallMs, counter: 0, origin: "remote" }),
    });
    const now = Date.now();
    // The later write (draining) arrives first; the earlier one (not draining) changes nothing.
    expect((await send([drain(true, now)])).status).toBe(200);
    expect((await send([drain(false, now - 1_000)])).status).toBe(200);
    const draining = async () =>
      ((await gw.detail()).nodes as { id: string; draining?: boolean }[]).find(
        (n) => n.id === nodes[0]!.id,
      )?.draining;
    // A peer's change reaches routing before its batch is acknowledged.
    expect(await draining()).toBe(true);
    for (let i = 0; i < 4; i++) {
      const response = await gw.fetch(`/s/${service}/`);
      await response.body?.cancel();
      expect(response.headers.get("x-roundhouse-node")).toBe(nodes[1]!.id);
    }
    expect((await send([drain(false, now + 1_000)])).status).toBe(200);
    expect(await draining()).toBe(false);
  });

  it("cannot let a peer empty a service: peer-drained nodes come back in panic, an operator's drain here stands", async () => {
    const { nodes, service, gw, send } = await peeredNodes("oppanic");
    let wall = Date.now();
    const drain = (node: TestNode) => ({
      key: `${service}/${node.id}`,
      kind: "drain",
      draining: true,
      stamp: encodeStamp({ wallMs: ++wall, counter: 0, origin: "remote" }),
    });
    expect((await send(nodes.map(drain))).status).toBe(200);
    const drainedBy = async () =>
      ((await gw.detail()).nodes as { id: string; drainedBy?: string }[]).map((n) => n.drainedBy);
    expect(await drainedBy()).toEqual(["peer", "peer"]);
    const answered = async () => {
      const response = await gw.fetch(`/s/${service}/`);
      await response.body?.cancel();
      return [response.status, response.headers.get("x-roundhouse-node")];
    };
    const served = new Set<unknown>();
    for (let i = 0; i < 4; i++) {
      const [status, node] = await answered();
      expect(status).toBe(200);
      served.add(node);
    }
    expect([...served].sort()).toEqual(nodes.map((n) => n.id).sort());
    // This gateway's operator drains the first too: out even in panic, and a peer's later drain
    // of the same node leaves it the operator's.
    const own = await gw.fetch(`/_gw/admin/services/${service}/nodes/${nodes[0]!.id}/drain`, {
      method: "POST",
      headers: AUTH,
    });
    expect(own.status).toBe(200);
    await send([drain(nodes[0]!)]);
    expect(await drainedBy()).toEqual(["operator", "peer"]);
    for (let i = 0; i < 4; i++) expect(await answered()).toEqual([200, nodes[1]!.id]);
  });
});
