import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { peerShardOf } from "../../src/durable/stubs.ts";
import { PeerShard } from "../../src/durable/sync/peer-shard.ts";
import { RouteSync } from "../../src/durable/sync/route-sync.ts";
import { addNodes, eventually, serviceName } from "./helpers.ts";
import {
  addPeers,
  gatewayId,
  peerStats,
  relay,
  removePeers,
  seedPeer,
  setPeer,
  syncGateway,
  upsert,
} from "./peer-helpers.ts";

describe("reconcile", () => {
  it("pulls what a peer has and pushes what it lacks, by digest", async () => {
    const [peer] = await addPeers(1);
    const [node] = await addNodes(1);
    const service = serviceName("rec");
    const gw = syncGateway({ gatewayId: gatewayId(), peers: [peer!], service });
    await seedPeer(peer!, [upsert(service, "from-peer", node!.url, Date.now(), peer!.name)]);
    expect((await gw.register({ url: `${node!.url}/from-gw`, id: "from-gw" })).status).toBe(201);
    // A shard compares digests with a peer it has just been given in its first round.
    await gw.syncRound();
    const keys = (await gw.table().entries()).map((e) => e.key);
    expect(keys).toContain(`${service}/from-peer`);
    // Pulled changes reach routing here: the node is registered in the service.
    expect((await gw.detail()).nodes).toContainEqual(
      expect.objectContaining({ id: "from-peer", source: "registered" }),
    );
    expect((await peerStats(peer!)).keys).toContain(`${service}/from-gw`);
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
      // Pushes that fail wait a minute: only reconcile can repair the partition in time.
      peerBackoffMs: 60_000,
      peerBackoffMaxMs: 60_000,
    };
    const a = syncGateway({ gatewayId: idA, peers: [{ ...toB!, name: idB }], service, sync });
    const b = syncGateway({ gatewayId: idB, peers: [{ ...toA!, name: idA }], service, sync });
    const pumps = [relay(toB!, b.fetch), relay(toA!, a.fetch)];
    const converged = async () => (await a.table().digest()).top === (await b.table().digest()).top;
    try {
      expect((await a.register({ url: `${node!.url}/before`, id: "before" })).status).toBe(201);
      await a.syncRound();
      expect((await b.table().entries()).map((e) => e.key)).toContain(`${service}/before`);
      await setPeer(toB!, { mode: "refuse" });
      await setPeer(toA!, { mode: "refuse" });
      expect((await a.register({ url: `${node!.url}/during-a`, id: "during-a" })).status).toBe(201);
      expect((await b.register({ url: `${node!.url}/during-b`, id: "during-b" })).status).toBe(201);
      await a.syncRound();
      await b.syncRound();
      expect((await a.detail()).peers[0]!.failures).toBe(1);
      expect((await b.detail()).peers[0]!.failures).toBe(1);
      expect(await converged()).toBe(false);
      await setPeer(toB!, { mode: "relay" });
      await setPeer(toA!, { mode: "relay" });
      // What is measured is the reconcile period, a timer: the alarms run on their own here, and
      // the test polls for the digests to agree, with a deadline of many periods.
      await eventually(converged, 10_000);
      const keys = (await b.table().entries()).map((e) => e.key).sort();
      expect(keys).toEqual([`${service}/before`, `${service}/during-a`, `${service}/during-b`]);
    } finally {
      for (const pump of pumps) await pump.stop();
      await removePeers([toB!, toA!]);
    }
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
      expect((await gw.register({ url: `${node!.url}/${n}`, id: n })).status).toBe(201);
    }
    await gw.syncRound();
    expect((await gw.detail()).peers[0]?.pending).toBe(0);
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
    const view = (await gw.detail()).peers[0]!;
    const views = await runInDurableObject(
      peerShardOf(env, id, view.shard),
      (_i: PeerShard, state) => new PeerShard(state, env).status(),
    );
    expect(views[0]?.cursor).toBe(view.cursor);
    await removePeers([peer!]);
  });
});
