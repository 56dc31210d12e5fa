import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { addCluster, discoveringService, hits, hostsOf } from "./cluster-helpers.ts";
import {
  ADMIN,
  ATTEMPT_PATHS,
  addNodes,
  eventually,
  gateway,
  serviceName,
  setBehaviour,
} from "./helpers.ts";

const vpc = { egress: { kind: "vpc-network", binding: "FLEET_VPC" }, allow: ["127.0.0.0/8"] };
const auth = { authorization: "Bearer test-admin-token-0123456789abcdef" };

interface Carried {
  proxied: number;
  probes: number;
  discovery: number;
}

/** What the stand-in VPC binding has carried so far (it counts per kind of request). */
async function carried(): Promise<Carried> {
  const standIn = (env as unknown as { FLEET_VPC: Fetcher }).FLEET_VPC;
  return (await (await standIn.fetch("http://stand-in.invalid/")).json()) as Carried;
}

describe.each(ATTEMPT_PATHS)("egress through a VPC Network binding (%s)", (_path, gate) => {
  it("carries every proxied attempt through the binding", async () => {
    const nodes = await addNodes(2);
    const name = serviceName("vpc");
    const fetchVia = gateway({
      services: [{ name, ...vpc, ...gate, nodes: nodes.map(({ id, url }) => ({ id, url })) }],
    });
    const before = await carried();
    for (let i = 0; i < 4; i++) {
      const response = await fetchVia(`/s/${name}/hello`);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-carried-by")).toBe("vpc-stand-in");
      await response.body?.cancel();
    }
    expect((await carried()).proxied - before.proxied).toBe(4);
  });
});

describe("egress through a VPC Network binding", () => {
  it("carries health probes and discovery through the binding too", async () => {
    const cluster = await addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 2 }] });
    const svc = discoveringService(
      cluster,
      {},
      { ...vpc, health: { path: "/health", intervalMs: 100, timeoutMs: 500 } },
    );
    const before = await carried();
    expect(new Set(await hits(svc, 4))).toEqual(new Set(hostsOf(cluster.nodes)));
    const live = liveNodesOf(env, svc.name);
    await runDurableObjectAlarm(live);
    const after = await carried();
    expect(after.discovery).toBeGreaterThan(before.discovery);
    expect(after.probes - before.probes).toBeGreaterThanOrEqual(cluster.nodes.length);
  });

  it("refuses invocations, which need a WebSocket the binding does not carry, with 501", async () => {
    const nodes = await addNodes(1);
    const name = serviceName("vpc");
    const fetchVia = gateway({ services: [{ name, ...vpc, nodes: [{ url: nodes[0]?.url }] }] });
    const response = await fetchVia(`/v1/invoke/${name}`, { method: "POST", body: "{}" });
    expect(response.status).toBe(501);
    expect(await response.json()).toMatchObject({
      type: "urn:roundhouse:problem:invoke-unavailable",
    });
  });
});

describe("a missing egress binding", () => {
  const missing = { egress: { kind: "vpc-network", binding: "NOT_BOUND" }, allow: ["127.0.0.0/8"] };

  it("answers 503 problem+json naming the binding, sending nothing", async () => {
    const [node] = await addNodes(1);
    const name = serviceName("vpc");
    const fetchVia = gateway({ services: [{ name, ...missing, nodes: [{ url: node?.url }] }] });
    const response = await fetchVia(`/s/${name}/`);
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const body = (await response.json()) as { type: string; binding: string; detail: string };
    expect(body).toMatchObject({
      type: "urn:roundhouse:problem:egress-unavailable",
      binding: "NOT_BOUND",
    });
    expect(body.detail).toContain("NOT_BOUND");
  });

  it("is reported by GET /_gw/health", async () => {
    const name = serviceName("vpc");
    const fetchVia = gateway({ services: [{ name, ...missing }] });
    const response = await fetchVia("/_gw/health", { headers: ADMIN });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: "egress-unavailable",
      missingBindings: [{ service: name, binding: "NOT_BOUND" }],
    });
  });
});

describe("address policy on discovery answers", () => {
  it("routes only to the allowed, normalized entries of an answer mixing hostile ones", async () => {
    const cluster = await addCluster({ layout: [{ dc: "dc1", rack: "r1", count: 2 }] });
    for (const node of cluster.nodes) await setBehaviour(node, { discovery: "hostile" });
    const svc = discoveringService(cluster, {});
    const served = new Set(await hits(svc, 6));
    expect([...served].sort()).toEqual(hostsOf(cluster.nodes));
    const detail = (await (await svc.admin(`/services/${svc.name}`)).json()) as {
      nodes: { url: string }[];
      discoveryState: { refusedEntries: number; lastRefused: string };
    };
    expect(detail.nodes.map((n) => n.url).sort()).toEqual(
      cluster.nodes.map((n) => `http://${n.host}:${n.port}`).sort(),
    );
    // Nine hostile entries per answer, each dropped and counted with its reason.
    expect(detail.discoveryState.refusedEntries).toBeGreaterThanOrEqual(9);
    expect(detail.discoveryState.lastRefused).toMatch(/\S+: ".+" .+/);
  });

  it("never routes to a node a peer synced from outside the policy", async () => {
    const [good] = await addNodes(1);
    const name = serviceName("sync");
    const fetchVia = gateway({ services: [{ name, slowStartMs: 0 }] });
    expect((await fetchVia(`/s/${name}/`)).status).toBe(503);
    const live = liveNodesOf(env, name);
    const upsert = (id: string, url: string) =>
      live.applySynced({ kind: "upsert", node: { id, url, weight: 1 } });
    await upsert("metadata", "http://169.254.169.254");
    await upsert("disguised", "http://0x7f000001:80");
    await upsert("good", good?.url as string);
    // The isolate picks the change up on its next membership refresh.
    await eventually(async () => {
      const response = await fetchVia(`/s/${name}/`);
      await response.body?.cancel();
      return response.status === 200;
    });
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const response = await fetchVia(`/s/${name}/`);
      expect(response.status).toBe(200);
      await response.body?.cancel();
      served.add(response.headers.get("x-roundhouse-node") ?? "");
    }
    expect([...served]).toEqual(["good"]);
  });

  it("refuses an admin registration outside the policy with 400 naming the field", async () => {
    const name = serviceName("reg");
    const fetchVia = gateway({ services: [{ name }] });
    for (const url of ["http://169.254.169.254/", "http://0x7f000001:80", "http://10.0.0.1/"]) {
      const response = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ url }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { detail: string }).detail).toMatch(/^url: /);
    }
  });
});
