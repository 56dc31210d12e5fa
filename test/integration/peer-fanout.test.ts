import { describe, expect, it } from "vitest";
import { HEAVY_TEST } from "../timeouts.ts";
import {
  addCluster,
  type ClusterNode,
  refreshRound,
  startNode,
  stopNode,
  untilUnlisted,
} from "./cluster-helpers.ts";
import { addNodes, eventually, serviceName, setBehaviour } from "./helpers.ts";
import {
  AUTH,
  addPeers,
  changesOf,
  gatewayId,
  peerStats,
  peersInFlight,
  postsTo,
  removePeers,
  setPeer,
  syncGateway,
} from "./peer-helpers.ts";

// Every round here is driven with syncRound, which returns once the round is done: no test waits
// for an alarm to fire on its own.

describe("peer fan-out", () => {
  it("queues an admin registration for every peer, which all receive it; the services API shows each peer", async () => {
    const peers = await addPeers(3);
    const [node] = await addNodes(1);
    const service = serviceName("sync");
    const gw = syncGateway({ gatewayId: gatewayId(), peers, service });
    expect((await gw.register({ url: `${node!.url}/reg-1`, id: "reg-1" })).status).toBe(201);
    await gw.syncRound();
    for (const peer of peers) expect((await peerStats(peer)).keys).toContain(`${service}/reg-1`);
    const detail = await gw.detail();
    expect(detail.peers.map((p) => p.peer).sort()).toEqual(peers.map((p) => p.name).sort());
    for (const view of detail.peers) {
      expect(view).toMatchObject({ pending: 0, failures: 0, lastError: null });
      expect(view.lastSyncedAt).not.toBeNull();
    }
    expect((await gw.deregister("reg-1")).status).toBe(204);
    await gw.syncRound();
    for (const peer of peers) {
      expect(await changesOf(peer)).toContainEqual(
        expect.objectContaining({ key: `${service}/reg-1`, kind: "remove" }),
      );
    }
    await removePeers(peers);
  });

  it(
    "keeps requests in flight to 200 peers within the bound of 64, and above 1",
    HEAVY_TEST,
    async () => {
      const peers = await addPeers(200, { delayMs: 40 });
      const [node] = await addNodes(1);
      const service = serviceName("wide");
      const gw = syncGateway({ gatewayId: gatewayId(), peers, service });
      expect((await gw.register({ url: `${node!.url}/wide-1`, id: "wide-1" })).status).toBe(201);
      await gw.syncRound();
      const all = await Promise.all(peers.map(peerStats));
      expect(all.filter((s) => !s.keys.includes(`${service}/wide-1`))).toEqual([]);
      const { peakInFlight } = await peersInFlight(peers[0]!);
      expect(peakInFlight).toBeGreaterThan(1);
      expect(peakInFlight).toBeLessThanOrEqual(64);
      const shards = await gw.shardStats();
      for (const shard of shards) expect(shard.peakInFlight).toBeLessThanOrEqual(6);
      expect(shards.reduce((sum, shard) => sum + shard.limit, 0)).toBe(64);
      await removePeers(peers);
    },
  );

  it("answers admin calls while a push to a hung peer is still open", async () => {
    const [hung, healthy] = await addPeers(2);
    await setPeer(hung!, { mode: "hang" });
    const [node] = await addNodes(1);
    const service = serviceName("hung");
    // The hung push stays open for 20 s: an admin call that waited on it would time the test out.
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [hung!, healthy!],
      service,
      sync: { requestTimeoutMs: 20_000, peerDeadlineMs: 20_000, retrySteps: 0 },
    });
    expect((await gw.register({ url: `${node!.url}/hung-0`, id: "hung-0" })).status).toBe(201);
    const blocked = gw.syncRound();
    // The one wait on the fake peer: the push is asked for in the round above, and held there.
    await eventually(async () => ((await peerStats(hung!)).byStatus.hung ?? 0) >= 1);
    for (const id of ["hung-1", "hung-2", "hung-3"]) {
      expect((await gw.register({ url: `${node!.url}/${id}`, id })).status).toBe(201);
    }
    expect((await peerStats(hung!)).received).toEqual([]);
    // The peer restarts, which closes what it held: that push fails, and the same round's first
    // digest comparison with the peer finds it answering again and catches it up.
    await setPeer(hung!, { mode: "ok" });
    await blocked;
    await gw.syncRound();
    for (const peer of [healthy!, hung!]) {
      const keys = (await peerStats(peer)).keys;
      for (const id of ["hung-0", "hung-1", "hung-2", "hung-3"]) {
        expect(keys).toContain(`${service}/${id}`);
      }
    }
    const views = (await gw.detail()).peers;
    expect(views.map((v) => v.pending)).toEqual([0, 0]);
    await removePeers([hung!, healthy!]);
  });

  it("does not retry a 409 or a 400, and retries a 503 within the round", async () => {
    const [conflict, bad, unavailable] = await addPeers(3, { mode: "fail" });
    await setPeer(conflict!, { failStatus: 409 });
    await setPeer(bad!, { failStatus: 400 });
    await setPeer(unavailable!, { failStatus: 503 });
    const [node] = await addNodes(1);
    const service = serviceName("codes");
    // A failed peer waits a minute, so every request seen comes from one round.
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [conflict!, bad!, unavailable!],
      service,
      sync: { peerBackoffMs: 60_000, peerBackoffMaxMs: 60_000 },
    });
    expect((await gw.register({ url: `${node!.url}/c-1`, id: "c-1" })).status).toBe(201);
    await gw.syncRound();
    const detail = await gw.detail();
    expect(detail.peers).toHaveLength(3);
    for (const view of detail.peers) expect(view).toMatchObject({ pending: 1, failures: 1 });
    expect(await postsTo(conflict!)).toBe(1);
    expect(await postsTo(bad!)).toBe(1);
    expect(await postsTo(unavailable!)).toBe(4); // the first request and 3 retries
    await removePeers([conflict!, bad!, unavailable!]);
  });

  it("keeps every change for a peer that is down through several rounds, and delivers them once it returns", async () => {
    const [away, present] = await addPeers(2);
    const [node] = await addNodes(1);
    const service = serviceName("away");
    // A failed peer is due again after 1 ms, so each driven round tries it.
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [away!, present!],
      service,
      sync: { peerBackoffMs: 1, peerBackoffMaxMs: 1 },
    });
    await setPeer(away!, { mode: "refuse" });
    const ids = ["a-1", "a-2", "a-3", "a-4", "a-5"];
    for (const id of ids)
      expect((await gw.register({ url: `${node!.url}/${id}`, id })).status).toBe(201);
    expect((await gw.deregister("a-2")).status).toBe(204);
    const awayView = async () => (await gw.detail()).peers.find((p) => p.peer === away!.name);
    for (let round = 0; round < 3; round++) await gw.syncRound();
    expect(await awayView()).toMatchObject({ pending: 5 });
    expect((await awayView())!.failures).toBeGreaterThanOrEqual(1);
    expect(await changesOf(away!)).toEqual([]);
    await setPeer(away!, { mode: "ok" });
    // Rounds, not time: the peer is due in the first round that starts 1 ms after its failure.
    for (let round = 0; round < 5 && (await awayView())?.pending !== 0; round++) {
      await gw.syncRound();
    }
    expect(await awayView()).toMatchObject({ pending: 0, failures: 0 });
    const received = await changesOf(away!);
    const upserts = new Set(received.filter((c) => c.kind === "upsert").map((c) => c.key));
    // a-2's upsert is superseded by its removal before it was ever sent: the queue sends the newest.
    const kept = ids.filter((id) => id !== "a-2");
    expect([...upserts].sort()).toEqual(kept.map((id) => `${service}/${id}`));
    expect(received).toContainEqual(
      expect.objectContaining({ key: `${service}/a-2`, kind: "remove" }),
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
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [peer!],
      service,
      nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
      serviceOverrides: {
        ejection: { consecutiveFailures: 2, baseMs: 60_000, maxMs: 120_000 },
        retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
      },
    });
    for (let i = 0; i < 9; i++) expect((await gw.fetch(`/s/${service}/`)).status).toBe(200);
    await gw.syncRound();
    const received = (await changesOf(peer!)).filter((c) => c.key === `${service}/${nodes[0]!.id}`);
    expect(received.map((c) => c.kind)).toEqual(["eject"]);
    await removePeers([peer!]);
  });

  it("records an ejection caused by failing invocations exactly as one caused by proxied requests", async () => {
    const [peer] = await addPeers(1);
    const nodes = await addNodes(3);
    // A node that refuses the stream fails the invocation before any ack: counted toward ejection.
    await setBehaviour(nodes[0]!, { mode: "refuse" });
    const service = serviceName("eji");
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [peer!],
      service,
      nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
      serviceOverrides: {
        ejection: { consecutiveFailures: 2, baseMs: 60_000, maxMs: 120_000 },
        retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
        invoke: {},
      },
    });
    for (let i = 0; i < 9; i++) {
      const response = await gw.fetch(`/v1/invoke/${service}`, { method: "POST", body: `i${i}` });
      expect(response.status).toBe(200);
      await response.body?.cancel();
    }
    await gw.syncRound();
    const received = (await changesOf(peer!)).filter((c) => c.key === `${service}/${nodes[0]!.id}`);
    expect(received.map((c) => c.kind)).toEqual(["eject"]);
    await removePeers([peer!]);
  });
});

describe("changes made by discovery", () => {
  it("records the readmission of a node that rejoins discovery, and the peers receive it", async () => {
    const [peer] = await addPeers(1);
    const cluster = await addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 2 }] });
    const [seed, victim] = cluster.nodes as [ClusterNode, ClusterNode];
    const service = serviceName("rj");
    const gw = syncGateway({
      gatewayId: gatewayId(),
      peers: [peer!],
      service,
      serviceOverrides: {
        discovery: { seeds: [seed.url], activeIntervalMs: 100, timeoutMs: 500 },
        scope: { dc: "dc1" },
        retry: { backoffBaseMs: 1, backoffMaxMs: 2, perTryTimeoutMs: 500 },
      },
    });
    const svc = {
      name: service,
      admin: (path: string) => gw.fetch(`/_gw${path}`, { headers: AUTH }),
    };
    for (let i = 0; i < 4; i++) await (await gw.fetch(`/s/${service}/`)).body?.cancel();
    await stopNode(victim);
    await untilUnlisted(svc, [victim]);
    await startNode(victim);
    // The round that finds the node back readmits it and records that for the peers.
    await refreshRound(service);
    await gw.syncRound();
    // The outage may also have ejected the node (and sent that), so what matters is that the
    // newest change the peer holds for the node is its readmission.
    const key = `${service}/${victim.host}:${victim.port}`;
    const kinds = (await changesOf(peer!)).filter((c) => c.key === key).map((c) => c.kind);
    expect(kinds.at(-1)).toBe("readmit");
    expect(kinds.every((kind) => kind === "eject" || kind === "readmit")).toBe(true);
    await removePeers([peer!]);
  });
});
