import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { parseConfig, type ResolvedService } from "../../src/config/load.ts";
import { runtimeFor } from "../../src/dispatch/service-runtime.ts";
import type { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { gateway, onLoopback, serviceName, type TestNode } from "./helpers.ts";

/** Discovery refresh period of the services these helpers build. */
export const ACTIVE_MS = 100;

export { setBehaviour } from "./helpers.ts";

/** A node of a fake Alternator cluster; usable wherever helpers.ts takes a TestNode. */
export interface ClusterNode extends TestNode {
  /** Loopback IPv4 address, the entry /localnodes lists for it. */
  readonly host: string;
  /** Port shared by every node of the cluster. */
  readonly port: number;
  readonly dc: string;
  readonly rack: string;
}

/** A fake multi-datacenter cluster in the test fleet. */
export interface TestCluster {
  readonly name: string;
  /** Port every node listens on; /localnodes answers carry addresses only. */
  readonly port: number;
  /** Entry format of /localnodes answers. */
  readonly addressFormat: "ip" | "host:port";
  readonly nodes: ClusterNode[];
}

/** Body of POST /clusters. */
export interface ClusterRequest {
  /** Default cluster-<n>. */
  name?: string;
  /** Default "ip", Alternator's own format. */
  addressFormat?: "ip" | "host:port";
  /** Default a random port free on every node address. */
  port?: number;
  /** Racks to start; node ids are <name>-<dc>-<rack>-<i>. */
  layout: { dc: string; rack: string; count: number; behaviour?: Record<string, unknown> }[];
}

/** What a cluster node counted of discovery requests, kept apart from data requests. */
export interface DiscoveryStats {
  localnodesRequests: number;
  localnodesByQuery: Record<string, number>;
}

async function control(path: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(`${inject("fleetUrl")}${path}`, init);
  if (!response.ok) throw new Error(`fleet ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** Starts a cluster: distinct 127.1.k.n addresses, one shared port. */
export async function addCluster(body: ClusterRequest): Promise<TestCluster> {
  const response = await control("/clusters", { method: "POST", body: JSON.stringify(body) });
  return (await response.json()) as TestCluster;
}

/** The cluster's current nodes, including ones that joined after it started. */
export async function clusterNodes(cluster: TestCluster | string): Promise<ClusterNode[]> {
  const name = typeof cluster === "string" ? cluster : cluster.name;
  const response = await control(`/clusters/${encodeURIComponent(name)}`);
  return ((await response.json()) as TestCluster).nodes;
}

/** Starts one more node in the cluster, on its next free address. */
export async function joinCluster(
  cluster: TestCluster,
  body: { dc: string; rack: string; id?: string; behaviour?: Record<string, unknown> },
): Promise<ClusterNode> {
  const response = await control("/nodes", {
    method: "POST",
    body: JSON.stringify({ ...body, cluster: cluster.name }),
  });
  return (await response.json()) as ClusterNode;
}

/** Closes every node of the cluster and frees its addresses. */
export async function removeCluster(cluster: TestCluster): Promise<void> {
  await control(`/clusters/${encodeURIComponent(cluster.name)}`, { method: "DELETE" });
}

/** Stops a node as if it died: connections drop and it leaves /localnodes answers. */
export async function stopNode(node: TestNode): Promise<void> {
  await control(`/nodes/${node.id}/stop`, { method: "POST" });
}

/** Brings a stopped node back on the same address and port. */
export async function startNode(node: TestNode): Promise<void> {
  await control(`/nodes/${node.id}/start`, { method: "POST" });
}

export async function discoveryStats(node: TestNode): Promise<DiscoveryStats> {
  const stats = (await (await control(`/nodes/${node.id}/stats`)).json()) as DiscoveryStats;
  return {
    localnodesRequests: stats.localnodesRequests,
    localnodesByQuery: stats.localnodesByQuery,
  };
}

/** dc1/r1, dc1/r2 and dc2/r1, two nodes each. */
export function twoDatacenters(): Promise<TestCluster> {
  return addCluster({
    layout: [
      { dc: "dc1", rack: "r1", count: 2 },
      { dc: "dc1", rack: "r2", count: 2 },
      { dc: "dc2", rack: "r1", count: 2 },
    ],
  });
}

/**
 * A gateway with one service that discovers `cluster` from a dc1 seed, in `scope`; `extra`
 * overrides service fields (discovery settings merge into the defaults).
 */
export function discoveringService(
  cluster: TestCluster,
  scope: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  envOverrides: Record<string, unknown> = {},
) {
  const name = serviceName("disc");
  const seed = cluster.nodes.find((n) => n.dc === "dc1") as ClusterNode;
  const { discovery, ...rest } = extra as { discovery?: Record<string, unknown> };
  const config = {
    services: [
      {
        name,
        discovery: {
          seeds: [seed.url],
          activeIntervalMs: ACTIVE_MS,
          idleIntervalMs: 60_000,
          timeoutMs: 500,
          ...discovery,
        },
        scope,
        retry: { backoffBaseMs: 1, backoffMaxMs: 2, perTryTimeoutMs: 500 },
        ...rest,
      },
    ],
  };
  const fetchVia = gateway(config, envOverrides as Partial<Env>);
  const loaded = parseConfig(JSON.stringify(onLoopback(config)));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return {
    name,
    /** The live-node configuration its isolates send. */
    liveConfig: runtimeFor(loaded.services.get(name) as ResolvedService).liveConfig,
    fetch: (path = "/", init?: RequestInit) => fetchVia(`/s/${name}${path}`, init),
    admin: (path: string, init?: RequestInit) =>
      fetchVia(`/_gw${path}`, {
        ...init,
        headers: { authorization: "Bearer test-admin-token-0123456789abcdef", ...init?.headers },
      }),
  };
}

/** Sends `count` GETs one after another, each must succeed; the nodes that answered, in order. */
export async function hits(
  svc: { fetch: (path?: string) => Promise<Response> },
  count: number,
): Promise<string[]> {
  const nodes: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await svc.fetch();
    expect(response.status).toBe(200);
    await response.body?.cancel();
    nodes.push(response.headers.get("x-roundhouse-node") ?? "");
  }
  return nodes;
}

/** host:port of each node, sorted, as the gateway names discovered nodes. */
export const hostsOf = (nodes: ClusterNode[]) => nodes.map((n) => `${n.host}:${n.port}`).sort();

/**
 * Runs one refresh of a service's live nodes, the one its alarm was set for (a discovery round,
 * in a service without health checks), after any run under way: no waiting for the alarm.
 */
export async function refreshRound(service: string): Promise<void> {
  await runInDurableObject(liveNodesOf(env, service), (instance: LiveNodes) => instance.alarm());
}

/**
 * Drives discovery rounds until one has seen `nodes` gone: none is listed in any level. A node
 * that left the lists and returns is readmitted; one that returns before a round saw it gone
 * stays ejected for its ejection's length, so a test that restarts nodes does this first.
 */
export async function untilUnlisted(
  svc: { admin: (path: string) => Promise<Response>; name: string },
  nodes: ClusterNode[],
): Promise<void> {
  const gone = new Set(hostsOf(nodes));
  const listed = async () => {
    const detail = (await (await svc.admin(`/services/${svc.name}`)).json()) as {
      nodes: { id: string }[];
    };
    return detail.nodes.filter((n) => gone.has(n.id)).map((n) => n.id);
  };
  // Rounds, not time: a round that began before the nodes stopped may still list them.
  for (let round = 0; round < 3 && (await listed()).length > 0; round++) {
    await refreshRound(svc.name);
  }
  expect(await listed()).toEqual([]);
}
