import { describe, expect, it } from "vitest";
import { addNodes, eventually, serviceName } from "./helpers.ts";
import { addPeers, peerStats, removePeers, syncGateway } from "./peer-helpers.ts";

let gateways = 0;
const gatewayId = () => `gw${++gateways}-${Math.random().toString(36).slice(2, 8)}`;

describe("peer fan-out", () => {
  it("queues an admin registration for every peer, which all receive it", async () => {
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
    await removePeers(peers);
  });
});
