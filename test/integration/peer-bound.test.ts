import { describe, expect, it } from "vitest";
import { HEAVY_TEST } from "../timeouts.ts";
import { addNodes, eventually, serviceName } from "./helpers.ts";
import {
  addPeers,
  gatewayId,
  peerStats,
  peersInFlight,
  removePeers,
  setPeer,
  syncGateway,
} from "./peer-helpers.ts";

// The fan-out bound as the peers see it: a request the gateway gives up on counts at a peer until
// the peer sees its connection close, so the gateway may reuse its slot only after that close.
// The rounds are driven with syncRound; the one wait is on the fake peers noticing a close.

describe("the fan-out bound as the peers see it", () => {
  it(
    "one connection slot over hung peers: each request given up on is closed before the next is sent",
    HEAVY_TEST,
    async () => {
      const peers = await addPeers(8, { mode: "hang" });
      const [node] = await addNodes(1);
      const gw = syncGateway({
        gatewayId: gatewayId(),
        peers,
        service: serviceName("bound"),
        // One shard with one slot: every request follows the one before it in the same slot. A
        // failed peer waits a minute, so no alarm of the shard's own adds requests afterwards.
        sync: {
          shards: 1,
          maxInFlight: 1,
          requestTimeoutMs: 100,
          peerDeadlineMs: 100,
          retrySteps: 0,
          peerBackoffMs: 60_000,
          peerBackoffMaxMs: 60_000,
        },
      });
      expect((await gw.register({ url: node!.url, id: "b-1" })).status).toBe(201);
      await gw.syncRound();
      // Every peer was asked, a push and a digest each, one after the other in the one slot.
      const [shard] = await gw.shardStats();
      expect(shard).toMatchObject({ requests: 2 * peers.length, peakInFlight: 1 });
      for (const peer of peers) expect((await peerStats(peer)).requests).toBeGreaterThan(0);
      // The peers never held two at once, and hold none once they have seen the last close.
      expect((await peersInFlight(peers[0]!)).peakInFlight).toBe(1);
      await eventually(async () => (await peersInFlight(peers[0]!)).inFlight === 0);
      for (const peer of peers) await setPeer(peer, { mode: "ok" });
      await removePeers(peers);
    },
  );
});
