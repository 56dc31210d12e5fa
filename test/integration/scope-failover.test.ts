import { describe, expect, it } from "vitest";
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
import { eventually } from "./helpers.ts";

const inRack = (dc: string, rack: string) => (n: ClusterNode) => n.dc === dc && n.rack === rack;

// An Alternator-style cluster on loopback (dc1/r1 holds the seed, dc1/r2, dc2/r1), tried as a
// new user would: whole racks and datacenters stop at once, and no idempotent request may fail.
describe("a scope level going down whole", () => {
  it("fails no idempotent request when the preferred rack stops: retries go on into the dc", async () => {
    const cluster = await twoDatacenters();
    const rack2 = cluster.nodes.filter(inRack("dc1", "r2"));
    const rack1 = cluster.nodes.filter(inRack("dc1", "r1"));
    const svc = discoveringService(cluster, { dc: "dc1", rack: "r2" });
    expect(new Set(await hits(svc, 4))).toEqual(new Set(hostsOf(rack2)));
    for (const node of rack2) await stopNode(node);
    // At once, before discovery or ejection has moved the scope; hits() needs every answer 200.
    const served = await hits(svc, 8);
    expect(served.every((host) => hostsOf(rack1).includes(host))).toBe(true);
  });

  it("fails no idempotent request when the preferred datacenter stops: retries reach the next", async () => {
    const cluster = await twoDatacenters();
    const dc1 = cluster.nodes.filter((n) => n.dc === "dc1");
    const dc2 = cluster.nodes.filter((n) => n.dc === "dc2");
    const svc = discoveringService(cluster, { dc: "dc1" }, { discovery: { datacenters: ["dc2"] } });
    expect(new Set(await hits(svc, 8))).toEqual(new Set(hostsOf(dc1)));
    for (const node of dc1) await stopNode(node);
    const served = await hits(svc, 8);
    expect(served.every((host) => hostsOf(dc2).includes(host))).toBe(true);
  });

  it("learns every datacenter the configuration names, from a single seed in one of them", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(cluster, {}, { discovery: { datacenters: ["dc2"] } });
    const served = new Set(await hits(svc, 12));
    expect([...served].sort()).toEqual(hostsOf(cluster.nodes));
  });

  it("learns the cluster from seeds in two datacenters with none named, ", async () => {
    const cluster = await twoDatacenters();
    const dc1 = cluster.nodes.filter((n) => n.dc === "dc1");
    const dc2 = cluster.nodes.filter((n) => n.dc === "dc2");
    const seeds = [dc1[0]!.url, dc2[0]!.url];
    // The cluster preferred: what it lists is what the rotation covers.
    const whole = discoveringService(cluster, {}, { discovery: { seeds } });
    expect([...new Set(await hits(whole, 12))].sort()).toEqual(hostsOf(cluster.nodes));
    await refreshRound(whole.name);
    expect([...new Set(await hits(whole, 12))].sort()).toEqual(hostsOf(cluster.nodes));
  });

  it("fails no idempotent request with seeds in two datacenters and none named, as the preferred rack and then its datacenter stop", async () => {
    const cluster = await twoDatacenters();
    const rack1 = cluster.nodes.filter(inRack("dc1", "r1"));
    const rack2 = cluster.nodes.filter(inRack("dc1", "r2"));
    const dc2 = cluster.nodes.filter((n) => n.dc === "dc2");
    const seeds = [rack1[0]!.url, dc2[0]!.url];
    const svc = discoveringService(cluster, { dc: "dc1", rack: "r2" }, { discovery: { seeds } });
    expect(new Set(await hits(svc, 4))).toEqual(new Set(hostsOf(rack2)));
    for (const node of rack2) await stopNode(node);
    expect((await hits(svc, 12)).every((host) => hostsOf(rack1).includes(host))).toBe(true);
    await refreshRound(svc.name);
    for (const node of rack1) await stopNode(node);
    // The dc1 seed is down with its rack; the cluster level, learnt from both seeds, holds dc2.
    expect((await hits(svc, 24)).every((host) => hostsOf(dc2).includes(host))).toBe(true);
    await refreshRound(svc.name);
    expect((await hits(svc, 12)).every((host) => hostsOf(dc2).includes(host))).toBe(true);
  });

  it("finds a rack that returns while the seeds' rack stays down, by asking the nodes it learnt", async () => {
    const cluster = await twoDatacenters();
    const rack1 = cluster.nodes.filter(inRack("dc1", "r1"));
    const rack2 = cluster.nodes.filter(inRack("dc1", "r2"));
    const dc2 = cluster.nodes.filter((n) => n.dc === "dc2");
    const svc = discoveringService(
      cluster,
      { dc: "dc1", rack: "r2" },
      { discovery: { datacenters: ["dc2"] } },
    );
    await hits(svc, 4);
    for (const node of [...rack1, ...rack2]) await stopNode(node);
    expect((await hits(svc, 6)).every((host) => hostsOf(dc2).includes(host))).toBe(true);
    await untilUnlisted(svc, rack2);
    for (const node of rack2) await startNode(node);
    // The seed (in rack 1) never answers again; the learnt nodes say rack 2 is back.
    await refreshRound(svc.name);
    await eventually(async () => (await hits(svc, 4)).every((h) => hostsOf(rack2).includes(h)));
  });
});
