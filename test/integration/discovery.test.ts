import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import {
  type ClusterNode,
  discoveringService,
  hits,
  hostsOf,
  refreshRound,
  startNode,
  stopNode,
  twoDatacenters,
  untilUnlisted,
} from "./cluster-helpers.ts";
import { eventually, gateway, nodeStats, serviceName, setBehaviour } from "./helpers.ts";

describe("discovery from /localnodes", () => {
  it("routes within the datacenter scope", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc1" });
    const seen = new Set(await hits(svc, 12));
    expect([...seen].sort()).toEqual(hostsOf(cluster.nodes.filter((n) => n.dc === "dc1")));
  });

  it("routes within the rack scope", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc1", rack: "r2" });
    const seen = new Set(await hits(svc, 8));
    expect([...seen].sort()).toEqual(
      hostsOf(cluster.nodes.filter((n) => n.dc === "dc1" && n.rack === "r2")),
    );
  });

  it("rotates strictly: each live node once per round", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc1" });
    const seen = await hits(svc, 12);
    for (let round = 0; round < 3; round++)
      expect(new Set(seen.slice(round * 4, round * 4 + 4)).size).toBe(4);
  });

  it("falls back from an empty rack to its datacenter, and returns when the rack recovers", async () => {
    const cluster = await twoDatacenters();
    const rack = cluster.nodes.filter((n) => n.dc === "dc1" && n.rack === "r1");
    const svc = discoveringService(cluster, { dc: "dc1", rack: "r1" });
    expect(new Set(await hits(svc, 4))).toEqual(new Set(hostsOf(rack)));
    for (const node of rack) await stopNode(node);
    // Stopped nodes cannot answer: every answer comes from elsewhere at once, retries included.
    const during = await hits(svc, 4);
    expect(during.filter((h) => hostsOf(rack).includes(h))).toEqual([]);
    await eventually(async () => (await hits(svc, 4)).every((h) => !hostsOf(rack).includes(h)));
    const fallback = new Set(await hits(svc, 8));
    expect([...fallback].sort()).toEqual(
      hostsOf(cluster.nodes.filter((n) => n.dc === "dc1" && n.rack === "r2")),
    );
    // Retries reach the datacenter before discovery has noticed anything; the rack comes back
    // through discovery, so first wait until a round has seen it gone.
    await untilUnlisted(svc, rack);
    for (const node of rack) await startNode(node);
    // The rack returns once a discovery round sees it: one is driven here. Traffic follows
    // within the isolate's cache interval (100 ms), the one wait on time left.
    await refreshRound(svc.name);
    let seen: string[] = [];
    await eventually(async () => {
      seen = await hits(svc, 4);
      return seen.every((h) => hostsOf(rack).includes(h));
    }).catch(async (error: Error) => {
      const detail = await (await svc.admin(`/services/${svc.name}`)).text();
      throw new Error(`${error.message}; last answers from ${seen.join(", ")}; ${detail}`);
    });
  });

  it("falls back to the seeds' own view for an unknown datacenter", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "nowhere" });
    const seen = new Set(await hits(svc, 8));
    expect([...seen].sort()).toEqual(hostsOf(cluster.nodes.filter((n) => n.dc === "dc1")));
  });

  it("moves traffic off a node that shuts down without failing an idempotent request, and back when it restarts", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc2" });
    const [victim] = cluster.nodes.filter((n) => n.dc === "dc2") as [ClusterNode];
    await hits(svc, 4);
    await stopNode(victim);
    // Every request succeeds meanwhile (retries go elsewhere), and the node leaves the rotation.
    await eventually(async () => {
      const before = (await nodeStats(victim)).requests;
      const seen = await hits(svc, 6);
      return (
        seen.every((h) => h !== `${victim.host}:${victim.port}`) &&
        (await nodeStats(victim)).requests === before
      );
    });
    await untilUnlisted(svc, [victim]);
    await startNode(victim);
    await refreshRound(svc.name);
    await eventually(async () => (await hits(svc, 4)).includes(`${victim.host}:${victim.port}`));
  });

  it("keeps the last good list when discovery answers garbage, and counts it", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc1" });
    const good = new Set(await hits(svc, 8));
    for (const node of cluster.nodes) await setBehaviour(node, { discovery: "garbage" });
    for (let round = 0; round < 3; round++) await refreshRound(svc.name);
    const detail = (await (await svc.admin(`/services/${svc.name}`)).json()) as {
      discoveryState: { failures: number };
    };
    expect(detail.discoveryState.failures).toBeGreaterThanOrEqual(3);
    expect(new Set(await hits(svc, 8))).toEqual(good);
    for (const fault of ["object", "bad-entries", "error"]) {
      for (const node of cluster.nodes) await setBehaviour(node, { discovery: fault });
      expect(new Set(await hits(svc, 8))).toEqual(good);
    }
  });

  it("serves the last known nodes at once after a restart, even with every seed gone", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, { dc: "dc1" });
    await hits(svc, 4);
    for (const node of cluster.nodes) await setBehaviour(node, { discovery: "error" });
    const stub = liveNodesOf(env, svc.name);
    // A fresh instance over the same storage is what the platform builds after a restart.
    const restarted = await runInDurableObject(stub, async (_instance: LiveNodes, state) => {
      const fresh = new LiveNodes(state, env);
      const config = svc.liveConfig;
      return fresh.view({
        config,
        chain: [{ kind: "dc", dc: "dc1" }, { kind: "cluster" }],
        knownVersion: 0,
      });
    });
    const listed = restarted.levels?.[0]?.nodes.map((n) => n.id).sort();
    expect(listed).toEqual(hostsOf(cluster.nodes.filter((n) => n.dc === "dc1")));
  });

  it("slows down when idle and speeds up when traffic returns", async () => {
    const cluster = await twoDatacenters();
    const name = serviceName("pace");
    const seed = cluster.nodes[0] as ClusterNode;
    const fetchVia = gateway({
      services: [
        { name, discovery: { seeds: [seed.url], activeIntervalMs: 100, idleIntervalMs: 400 } },
      ],
    });
    await (await fetchVia(`/s/${name}/`)).body?.cancel();
    const pace = async () => {
      const response = await fetchVia(`/_gw/services/${name}`, {
        headers: { authorization: "Bearer test-admin-token-0123456789abcdef" },
      });
      return ((await response.json()) as { discoveryState: { pace: string; nextAlarmAt: number } })
        .discoveryState;
    };
    // The pace is the subject and a timer: the service turns idle once 400 ms pass without
    // traffic, so this polls for it, with a deadline.
    await eventually(async () => (await pace()).pace === "idle");
    await eventually(async () => (await pace()).nextAlarmAt - Date.now() > 150);
    await (await fetchVia(`/s/${name}/`)).body?.cancel();
    const after = await pace();
    expect(after.pace).toBe("active");
    expect(after.nextAlarmAt - Date.now()).toBeLessThanOrEqual(100);
  });
});
