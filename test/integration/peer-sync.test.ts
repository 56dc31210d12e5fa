import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PeerShard } from "../../src/durable/peer-shard.ts";
import { RouteSync } from "../../src/durable/route-sync.ts";
import { peerShardName } from "../../src/durable/stubs.ts";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { addCluster, type ClusterNode, startNode, stopNode } from "./cluster-helpers.ts";
import { addNodes, eventually, gateway, serviceName, setBehaviour } from "./helpers.ts";
import {
  addPeers,
  peerStats,
  peersInFlight,
  relay,
  removePeers,
  resetPeerStats,
  seedPeer,
  setPeer,
  signedInit,
  syncGateway,
  type TestPeer,
} from "./peer-helpers.ts";

let gateways = 0;
const gatewayId = () => `gw${++gateways}-${Math.random().toString(36).slice(2, 8)}`;

const changesOf = async (peer: TestPeer) => (await peerStats(peer)).received;
const postsTo = async (peer: TestPeer) => (await peerStats(peer)).byPath["/_gw/peer/changes"] ?? 0;

/** A wire change for a signed POST to a gateway. */
function upsert(
  service: string,
  nodeId: string,
  url: string,
  wallMs = Date.now(),
  origin = "remote",
) {
  return {
    key: `${service}/${nodeId}`,
    kind: "upsert",
    stamp: encodeStamp({ wallMs, counter: 0, origin }),
    record: { url, weight: 1 },
  };
}

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await call();
  return { value, ms: performance.now() - start };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

describe("peer fan-out", () => {
  it("queues an admin registration for every peer, which all receive it; the services API shows each peer", async () => {
    const peers = await addPeers(3);
    const [node] = await addNodes(1);
    const service = serviceName("sync");
    const gw = syncGateway({ gatewayId: gatewayId(), peers, service });
    expect((await gw.register({ url: node!.url, id: "reg-1" })).status).toBe(201);
    for (const peer of peers) {
      await eventually(async () => (await peerStats(peer)).keys.includes(`${service}/reg-1`));
    }
    const detail = await eventually(async () => {
      const d = await gw.detail();
      return d.peers.every((p) => p.pending === 0 && p.lastSyncedAt !== null) ? d : undefined;
    });
    expect(detail?.peers.map((p) => p.peer).sort()).toEqual(peers.map((p) => p.name).sort());
    expect((await gw.deregister("reg-1")).status).toBe(204);
    for (const peer of peers) {
      await eventually(async () =>
        (await changesOf(peer)).some((c) => c.key === `${service}/reg-1` && c.kind === "remove"),
      );
    }
    await removePeers(peers);
  });

  it("keeps requests in flight to 200 peers within the bound of 64, and above 1", async () => {
    const peers = await addPeers(200, { delayMs: 40 });
    const [node] = await addNodes(1);
    const service = serviceName("wide");
    // Timeouts long enough that no request is abandoned: the peers' own count of requests open
    // at once then measures exactly what the gateway has in flight.
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers,
      service,
      sync: { requestTimeoutMs: 5_000, peerDeadlineMs: 10_000 },
    });
    await resetPeerStats();
    expect((await gw.register({ url: node!.url, id: "wide-1" })).status).toBe(201);
    await eventually(async () => {
      const all = await Promise.all(peers.map(peerStats));
      return all.every((s) => s.keys.includes(`${service}/wide-1`));
    }, 20_000);
    const { peakInFlight } = await peersInFlight();
    expect(peakInFlight).toBeGreaterThan(1);
    expect(peakInFlight).toBeLessThanOrEqual(64);
    const shards = await gw.shardStats();
    for (const shard of shards) expect(shard.peakInFlight).toBeLessThanOrEqual(6);
    await removePeers(peers);
  });

  it("answers the admin call as fast with a hung peer as with all healthy", async () => {
    const peers = await addPeers(4);
    const [node] = await addNodes(1);
    const service = serviceName("hung");
    const gw = syncGateway({ gatewayId: gatewayId(), peers, service });
    const measure = async (tag: string) => {
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        const { value, ms } = await timed(() => gw.register({ url: node!.url, id: `${tag}-${i}` }));
        expect(value.status).toBe(201);
        times.push(ms);
      }
      return median(times);
    };
    await measure("warm");
    const healthy = await measure("healthy");
    await setPeer(peers[0]!, { mode: "hang" });
    const oneHung = await measure("hung");
    expect(oneHung).toBeLessThan(3 * Math.max(healthy, 5));
    // The healthy peers got everything meanwhile.
    for (const peer of peers.slice(1)) {
      await eventually(async () => (await peerStats(peer)).keys.includes(`${service}/hung-8`));
    }
    await removePeers(peers);
  });

  it("does not retry a 409 or a 400, and retries a 503 within the round", async () => {
    const [conflict, bad, unavailable] = await addPeers(3, { mode: "fail" });
    await setPeer(conflict!, { failStatus: 409 });
    await setPeer(bad!, { failStatus: 400 });
    await setPeer(unavailable!, { failStatus: 503 });
    const [node] = await addNodes(1);
    const service = serviceName("codes");
    // Rounds are a minute apart, so every request seen comes from the first round; the deadline
    // leaves room for every retry even on a loaded machine.
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [conflict!, bad!, unavailable!],
      service,
      sync: {
        peerBackoffMs: 60_000,
        peerBackoffMaxMs: 60_000,
        requestTimeoutMs: 1_000,
        peerDeadlineMs: 5_000,
      },
    });
    expect((await gw.register({ url: node!.url, id: "c-1" })).status).toBe(201);
    const detail = await eventually(async () => {
      const d = await gw.detail();
      return d.peers.length === 3 && d.peers.every((p) => p.failures >= 1) ? d : undefined;
    });
    expect(detail?.peers.every((p) => p.pending === 1)).toBe(true);
    expect(await postsTo(conflict!)).toBe(1);
    expect(await postsTo(bad!)).toBe(1);
    expect(await postsTo(unavailable!)).toBe(4); // the first request and 3 retries
    await removePeers([conflict!, bad!, unavailable!]);
  });

  it("delivers every change to a peer that was down for several alarms once it returns", async () => {
    const [away, present] = await addPeers(2);
    const [node] = await addNodes(1);
    const service = serviceName("away");
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [away!, present!],
      service,
      sync: { peerBackoffMs: 20, peerBackoffMaxMs: 80 },
    });
    await setPeer(away!, { mode: "refuse" });
    const ids = ["a-1", "a-2", "a-3", "a-4", "a-5"];
    for (const id of ids) expect((await gw.register({ url: node!.url, id })).status).toBe(201);
    expect((await gw.deregister("a-2")).status).toBe(204);
    await eventually(async () => {
      const view = (await gw.detail()).peers.find((p) => p.peer === away!.name);
      return view !== undefined && view.failures >= 3 && view.pending === 5;
    });
    await setPeer(away!, { mode: "ok" });
    await eventually(async () => {
      const received = await changesOf(away!);
      const upserts = new Set(received.filter((c) => c.kind === "upsert").map((c) => c.key));
      const removed = received.some((c) => c.key === `${service}/a-2` && c.kind === "remove");
      return removed && ["a-1", "a-3", "a-4", "a-5"].every((id) => upserts.has(`${service}/${id}`));
    });
    // The peer has everything; the gateway's queue empties once the acks are in (a push whose
    // answer came too late on a busy machine is sent again and acknowledged then).
    await eventually(
      async () => (await gw.detail()).peers.find((p) => p.peer === away!.name)?.pending === 0,
    );
    await removePeers([away!, present!]);
  });
});

describe("changes made by gates", () => {
  it("records an ejection a gate was granted, and the peers receive it", async () => {
    const [peer] = await addPeers(1);
    const nodes = await addNodes(3);
    await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
    const service = serviceName("ej");
    const fetchVia = gateway({
      gatewayId: gatewayId(),
      peers: [{ name: peer!.name, url: peer!.url }],
      services: [
        {
          name: service,
          nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
          ejection: { consecutiveFailures: 2, baseMs: 60_000, maxMs: 120_000 },
          retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
        },
      ],
    });
    for (let i = 0; i < 9; i++) expect((await fetchVia(`/s/${service}/`)).status).toBe(200);
    const received = await eventually(async () =>
      (await changesOf(peer!)).find((c) => c.key === `${service}/${nodes[0]!.id}`),
    );
    expect(received?.kind).toBe("eject");
    await removePeers([peer!]);
  });
});

describe("changes made by discovery", () => {
  it("records the readmission of a node that rejoins discovery, and the peers receive it", async () => {
    const [peer] = await addPeers(1);
    const cluster = await addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 2 }] });
    const [seed, victim] = cluster.nodes as [ClusterNode, ClusterNode];
    const service = serviceName("rj");
    const fetchVia = gateway({
      gatewayId: gatewayId(),
      peers: [{ name: peer!.name, url: peer!.url }],
      services: [
        {
          name: service,
          discovery: { seeds: [seed.url], activeIntervalMs: 100, timeoutMs: 500 },
          scope: { dc: "dc1" },
          retry: { backoffBaseMs: 1, backoffMaxMs: 2, perTryTimeoutMs: 500 },
        },
      ],
    });
    const traffic = async () => {
      for (let i = 0; i < 4; i++) await (await fetchVia(`/s/${service}/`)).body?.cancel();
    };
    const key = `${service}/${victim.host}:${victim.port}`;
    await traffic();
    await stopNode(victim);
    await eventually(async () => {
      await traffic();
      const level = await (await fetchVia(`/_gw/services/${service}/localnodes`)).json();
      return !(level as string[]).some((a) => a.startsWith(victim.host));
    });
    await startNode(victim);
    // The outage may also have ejected the node (and sent that), so what matters is that the
    // newest change the peer holds for the node is its readmission.
    const kinds = await eventually(async () => {
      await traffic();
      const forNode = (await changesOf(peer!)).filter((c) => c.key === key).map((c) => c.kind);
      return forNode.at(-1) === "readmit" ? forNode : undefined;
    });
    expect(kinds!.at(-1)).toBe("readmit");
    expect(kinds!.every((kind) => kind === "eject" || kind === "readmit")).toBe(true);
    await removePeers([peer!]);
  });
});

describe("reconcile", () => {
  it("pulls what a peer has and pushes what it lacks, by digest", async () => {
    const [peer] = await addPeers(1);
    const [node] = await addNodes(1);
    const service = serviceName("rec");
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [peer!],
      service,
      sync: { reconcileIntervalMs: 200 },
    });
    await seedPeer(peer!, [upsert(service, "from-peer", node!.url, Date.now(), peer!.name)]);
    expect((await gw.register({ url: node!.url, id: "from-gw" })).status).toBe(201);
    await eventually(async () => {
      const keys = (await gw.table().entries()).map((e) => e.key);
      return keys.includes(`${service}/from-peer`);
    });
    // Pulled changes reach routing here: the node is registered in the service.
    await eventually(async () =>
      (await gw.detail()).nodes.some((n) => n.id === "from-peer" && n.source === "registered"),
    );
    await eventually(async () => (await peerStats(peer!)).keys.includes(`${service}/from-gw`));
    await removePeers([peer!]);
  });

  it("brings two gateways together after a partition, within a reconcile period of its end", async () => {
    const [toB, toA] = await addPeers(2, { mode: "relay" });
    const [node] = await addNodes(1);
    const service = serviceName("pair");
    const idA = gatewayId();
    const idB = gatewayId();
    const sync = {
      reconcileIntervalMs: 300,
      requestTimeoutMs: 2_000,
      peerDeadlineMs: 4_000,
      // Pushes that fail wait a minute: only reconcile can repair the partition in time.
      peerBackoffMs: 60_000,
      peerBackoffMaxMs: 60_000,
    };
    const a = syncGateway({ gatewayId: idA, peers: [{ ...toB!, name: idB }], service, sync });
    const b = syncGateway({ gatewayId: idB, peers: [{ ...toA!, name: idA }], service, sync });
    const pumps = [relay(toB!, b.fetch), relay(toA!, a.fetch)];
    try {
      expect((await a.register({ url: node!.url, id: "before" })).status).toBe(201);
      await eventually(async () =>
        (await b.table().entries()).some((e) => e.key === `${service}/before`),
      );
      await setPeer(toB!, { mode: "refuse" });
      await setPeer(toA!, { mode: "refuse" });
      expect((await a.register({ url: node!.url, id: "during-a" })).status).toBe(201);
      expect((await b.register({ url: node!.url, id: "during-b" })).status).toBe(201);
      // Both pushes fail and back off for a minute.
      await eventually(async () => (await a.detail()).peers[0]!.failures >= 1);
      await eventually(async () => (await b.detail()).peers[0]!.failures >= 1);
      expect((await a.table().digest()).top).not.toBe((await b.table().digest()).top);
      await setPeer(toB!, { mode: "relay" });
      await setPeer(toA!, { mode: "relay" });
      await eventually(
        async () => (await a.table().digest()).top === (await b.table().digest()).top,
        10_000,
      );
      const keys = (await b.table().entries()).map((e) => e.key).sort();
      expect(keys).toEqual([`${service}/before`, `${service}/during-a`, `${service}/during-b`]);
    } finally {
      for (const pump of pumps) await pump.stop();
      await removePeers([toB!, toA!]);
    }
  });
});

describe("peer endpoints", () => {
  async function setup() {
    const [peer] = await addPeers(1);
    const [node] = await addNodes(1);
    const service = serviceName("ep");
    const id = gatewayId();
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service });
    const post = async (body: unknown, options: Parameters<typeof signedInit>[4] = {}) =>
      gw.fetch(
        "/_gw/peer/changes",
        await signedInit(id, "POST", "/_gw/peer/changes", JSON.stringify(body), options),
      );
    return { peer: peer!, node: node!, service, gw, post, id };
  }

  it("refuses a missing, wrong or stale signature and a replay with 401, a bad body with 400", async () => {
    const { node, service, gw, post, id } = await setup();
    const body = { origin: "remote", changes: [upsert(service, "r-1", node.url)] };
    const text = JSON.stringify(body);
    const unsigned = await gw.fetch("/_gw/peer/changes", { method: "POST", body: text });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get("content-type")).toBe("application/problem+json");
    expect((await post(body, { secret: "not-the-secret" })).status).toBe(401);
    expect((await post(body, { now: Date.now() - 6 * 60_000 })).status).toBe(401);
    expect((await post(body, { now: Date.now() + 6 * 60_000 })).status).toBe(401);
    expect(await gw.table().entries()).toEqual([]);

    const init = await signedInit(id, "POST", "/_gw/peer/changes", text);
    const first = await gw.fetch("/_gw/peer/changes", init);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ applied: 1 });
    const replayed = await gw.fetch("/_gw/peer/changes", init);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { detail: string }).detail).toMatch(/already seen/);
    expect((await gw.table().entries()).map((e) => e.key)).toEqual([`${service}/r-1`]);
    // A replay with a fresh nonce but the old signature fails the MAC instead.
    const headers = { ...(init.headers as Record<string, string>) };
    headers["x-roundhouse-nonce"] = "f".repeat(32);
    expect((await gw.fetch("/_gw/peer/changes", { ...init, headers })).status).toBe(401);

    const bad = await post({ origin: "remote", changes: [{ key: "nope", kind: "upsert" }] });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { issues: { path: string }[] };
    expect(problem.issues.map((i) => i.path)).toContain("changes[0].key");
    const notJson = await gw.fetch(
      "/_gw/peer/changes",
      await signedInit(id, "POST", "/_gw/peer/changes", "{nope"),
    );
    expect(notJson.status).toBe(400);
    const badQuery = await gw.fetch(
      "/_gw/peer/routes?since=zzz",
      await signedInit(id, "GET", "/_gw/peer/routes?since=zzz"),
    );
    expect(badQuery.status).toBe(400);
    expect((await gw.fetch("/_gw/peer/digest")).status).toBe(401);
  });

  it("applies duplicates and reordered batches idempotently, and refuses a clock far ahead", async () => {
    const { node, service, gw, post } = await setup();
    const t = Date.now();
    const older = upsert(service, "r-2", node.url, t, "remote");
    const newer = {
      key: `${service}/r-2`,
      kind: "remove",
      stamp: encodeStamp({ wallMs: t + 1, counter: 0, origin: "remote" }),
    };
    expect(await (await post({ origin: "remote", changes: [newer] })).json()).toMatchObject({
      applied: 1,
    });
    expect(await (await post({ origin: "remote", changes: [older, newer] })).json()).toMatchObject({
      applied: 0,
    });
    expect((await gw.table().entries())[0]).toMatchObject({
      record: null,
      state: { kind: "removed" },
    });
    const ahead = await post({
      origin: "remote",
      changes: [upsert(service, "r-3", node.url, Date.now() + 10 * 60_000)],
    });
    expect(ahead.status).toBe(409);
    expect(((await ahead.json()) as { type: string }).type).toBe(
      "urn:roundhouse:problem:clock-drift",
    );
    expect((await gw.table().entries()).map((e) => e.key)).toEqual([`${service}/r-2`]);
  });

  it("applies remote upserts, ejections, readmissions and removals to routing here", async () => {
    const { node, service, gw, post } = await setup();
    let wall = Date.now();
    const stamp = () => encodeStamp({ wallMs: ++wall, counter: 0, origin: "remote" });
    const key = `${service}/remote-1`;
    await post({
      origin: "remote",
      changes: [{ ...upsert(service, "remote-1", node.url), stamp: stamp() }],
    });
    const routable = async () =>
      (await (await gw.fetch(`/_gw/services/${service}/localnodes`)).json()) as string[];
    expect(await routable()).toEqual([new URL(node.url).host]);
    expect((await gw.detail()).nodes).toEqual([
      expect.objectContaining({ id: "remote-1", source: "registered", ejectedUntil: null }),
    ]);
    const until = Date.now() + 60_000;
    await post({ origin: "remote", changes: [{ key, kind: "eject", until, stamp: stamp() }] });
    expect((await gw.detail()).nodes[0]?.ejectedUntil).toBe(until);
    expect(await routable()).toEqual([]);
    await post({ origin: "remote", changes: [{ key, kind: "readmit", stamp: stamp() }] });
    expect((await gw.detail()).nodes[0]?.ejectedUntil).toBeNull();
    await post({ origin: "remote", changes: [{ key, kind: "remove", stamp: stamp() }] });
    expect((await gw.detail()).nodes).toEqual([]);
    // Remote changes are not forwarded: the peer's queue holds only this gateway's own.
    expect((await gw.detail()).peers).toEqual([expect.objectContaining({ pending: 0 })]);
  });

  it("answers 404 when peer sync is off", async () => {
    const off = gateway({ services: [] });
    expect(
      (await off("/_gw/peer/digest", await signedInit("any", "GET", "/_gw/peer/digest"))).status,
    ).toBe(404);
  });
});

describe("restart", () => {
  it("keeps the route table, the clock and the peer cursors", async () => {
    const [peer] = await addPeers(1);
    const [node] = await addNodes(1);
    const service = serviceName("rst");
    const id = gatewayId();
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service });
    for (const n of ["k-1", "k-2"]) {
      expect((await gw.register({ url: node!.url, id: n })).status).toBe(201);
    }
    await eventually(async () => (await gw.detail()).peers[0]?.pending === 0);
    const before = await gw.table().entries();
    const restarted = await runInDurableObject(gw.table(), async (_i: RouteSync, state) => {
      const fresh = new RouteSync(state, env);
      const entries = fresh.entries();
      const stamp = await fresh.record(id, { kind: "readmit", key: `${service}/k-1` });
      return { entries, stamp };
    });
    expect(restarted.entries).toEqual(before);
    const latest = before
      .map((e) => e.stamp)
      .sort((x, y) => x.wallMs - y.wallMs || x.counter - y.counter)
      .at(-1)!;
    expect(
      restarted.stamp.wallMs > latest.wallMs ||
        (restarted.stamp.wallMs === latest.wallMs && restarted.stamp.counter > latest.counter),
    ).toBe(true);
    const shard = env.PEER_SHARD.get(
      env.PEER_SHARD.idFromName(peerShardName(id, (await gw.detail()).peers[0]!.shard)),
    );
    const cursor = (await gw.detail()).peers[0]?.cursor;
    const views = await runInDurableObject(shard, (_i: PeerShard, state) =>
      new PeerShard(state, env).status(),
    );
    expect(views[0]?.cursor).toBe(cursor);
    await removePeers([peer!]);
  });
});
