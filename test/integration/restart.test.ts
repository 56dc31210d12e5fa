import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import {
  coordinatorOf,
  gateStub,
  liveNodesOf,
  peerShardOf,
  routeSyncOf,
} from "../../src/durable/stubs.ts";
import type { PeerShard } from "../../src/durable/sync/peer-shard.ts";
import { shardOf } from "../../src/sync/fanout.ts";
import { HEAVY_TEST } from "../timeouts.ts";
import { addNodes, nodeStats, serviceName, setBehaviour } from "./helpers.ts";
import { addPeers, gatewayId, peerStats, SHARDS, setPeer, syncGateway } from "./peer-helpers.ts";

/** Evicts an object if it is running; one that is not has nothing in memory to lose. */
async function evict(stub: { id: DurableObjectId }): Promise<void> {
  await evictDurableObject(stub as unknown as DurableObjectStub).catch(() => {});
}

describe("restart and chaos", () => {
  it(
    "loses nothing when every object class is evicted in the middle of traffic",
    HEAVY_TEST,
    async () => {
      const [peer] = await addPeers(1, { mode: "fail", failStatus: 503 });
      const nodes = await addNodes(3, { behaviour: { delayMs: 40 } });
      const [spare] = await addNodes(1);
      const service = serviceName("chaos");
      const id = gatewayId();
      const gw = syncGateway({
        gatewayId: id,
        peers: [peer!],
        service,
        // Short peer timeouts: evicting a shard waits for the requests of its round to end.
        sync: { requestTimeoutMs: 100, peerDeadlineMs: 300 },
        nodes: nodes.map(({ id: nodeId, url }) => ({ id: nodeId, url })),
        serviceOverrides: {
          ejection: { consecutiveFailures: 2, baseMs: 600_000, maxMs: 600_000 },
          health: { path: "/health", intervalMs: 60_000 },
          retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
          slowStartMs: 0,
        },
      });
      // State worth keeping: a registration (pending for the failing peer) and an ejection.
      expect((await gw.register({ url: spare!.url, id: "registered-1" })).status).toBe(201);
      const victim = nodes[2]!;
      await setBehaviour(victim, { mode: "fail", failStatus: 503 });
      const ejected = async () =>
        (await gw.detail()).nodes.find((n) => n.id === victim.id)?.ejectedUntil != null;
      // Requests, not time: two failures in a row eject the victim within a few rounds of three.
      for (let i = 0; i < 12 && !(await ejected()); i++) {
        await (await gw.fetch(`/s/${service}/`)).body?.cancel();
      }
      expect(await ejected()).toBe(true);

      // Traffic in flight, POSTs without an idempotency key among it, while everything restarts.
      const inFlight = Array.from({ length: 12 }, (_, i) =>
        gw.fetch(`/s/${service}/work`, {
          method: i % 2 ? "POST" : "GET",
          body: i % 2 ? `job-${i}` : null,
          headers: { "x-request-id": `chaos-${id}-${i}` },
        }),
      );
      const stubs: { id: DurableObjectId }[] = [...nodes, spare!].flatMap((n) => [
        gateStub(env, { service, nodeId: n.id }),
        gateStub(env, { service, nodeId: n.id, global: true }),
      ]);
      stubs.push(coordinatorOf(env, service), liveNodesOf(env, service), routeSyncOf(env, id));
      for (let i = 0; i < SHARDS; i++) stubs.push(peerShardOf(env, id, i));
      await Promise.all(stubs.map(evict));

      // Every request completes, or fails with a problem; none is left hanging or crashes.
      const answers = await Promise.all(inFlight);
      for (const response of answers) {
        if (response.status !== 200) {
          expect(response.headers.get("content-type")).toBe("application/problem+json");
        }
        await response.body?.cancel();
      }
      // No POST ran twice, on any node.
      const stats = await Promise.all(nodes.map(nodeStats));
      for (let i = 1; i < 12; i += 2) {
        const runs = stats.reduce((sum, s) => sum + (s.byRequestId[`chaos-${id}-${i}`] ?? 0), 0);
        expect(runs).toBeLessThanOrEqual(1);
      }

      // Nothing is lost: the registration, the ejection, the pending peer change, armed alarms.
      const detail = await gw.detail();
      expect(detail.nodes.map((n) => n.id)).toContain("registered-1");
      expect(detail.nodes.find((n) => n.id === victim.id)?.ejectedUntil).toBeGreaterThan(
        Date.now(),
      );
      expect(detail.peers[0]?.pending).toBeGreaterThanOrEqual(1);
      const shard = peerShardOf(env, id, shardOf(peer!.name, SHARDS));
      const live = liveNodesOf(env, service);
      // Each restarted object runs its alarm's work from what it read back and arms the next one
      // (read in the same call: an alarm armed for now may already be running by the next).
      const shardArmed = await runInDurableObject(shard, async (instance: PeerShard, state) => {
        await instance.alarm();
        return state.storage.getAlarm();
      });
      const liveArmed = await runInDurableObject(live, async (instance: LiveNodes, state) => {
        await instance.alarm();
        return state.storage.getAlarm();
      });
      expect(shardArmed).not.toBeNull();
      expect(liveArmed).not.toBeNull();
    },
  );

  it("neither drops nor remakes a pending change when an alarm run throws and is retried", async () => {
    const [peer] = await addPeers(1, { mode: "fail", failStatus: 503 });
    const [node] = await addNodes(1);
    const service = serviceName("retry");
    const id = gatewayId();
    // A failed round is retried after 1 ms, so the retried alarm finds the peer due.
    const sync = {
      peerBackoffMs: 1,
      peerBackoffMaxMs: 1,
      requestTimeoutMs: 2_000,
      peerDeadlineMs: 4_000,
    };
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service, sync });
    expect((await gw.register({ url: node!.url, id: "once" })).status).toBe(201);
    const shard = peerShardOf(env, id, shardOf(peer!.name, SHARDS));
    await gw.syncRound();
    expect((await gw.detail()).peers[0]?.failures).toBeGreaterThanOrEqual(1);
    await setPeer(peer!, { mode: "ok" });
    // The run pushes, then fails (as an alarm can, e.g. on a storage error): Cloudflare retries it.
    await runInDurableObject(shard, async (instance: PeerShard, state) => {
      // The storage call that arms the next alarm fails: the run has done its work and throws.
      const storage = state.storage as { setAlarm: DurableObjectStorage["setAlarm"] };
      const setAlarm = storage.setAlarm;
      storage.setAlarm = () => Promise.reject(new Error("alarm failed after its work"));
      await expect(instance.alarm()).rejects.toThrow(/alarm failed/);
      storage.setAlarm = setAlarm;
      await instance.alarm();
    });
    await runDurableObjectAlarm(shard);
    // Runs wait for the one under way, so the push of the runs above is acknowledged by now.
    expect((await gw.detail()).peers[0]?.pending).toBe(0);
    // Delivered, and the same change each time it arrived: a push is at least once (a timed-out
    // request is sent again, and applying is idempotent), but no run made or dropped work.
    const received = (await peerStats(peer!)).received.filter((c) => c.key === `${service}/once`);
    expect(received.length).toBeGreaterThanOrEqual(1);
    expect(new Set(received.map((c) => `${c.kind}@${c.stamp}`)).size).toBe(1);
  });
});
