import { inject } from "vitest";
import type { TestNode } from "./helpers.ts";

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
