import http from "node:http";
import type { Socket } from "node:net";
import {
  Cluster,
  type ClusterOptions,
  clusterAddress,
  DuplicateClusterError,
  type FleetCluster,
  InvalidOptionError,
  MAX_CLUSTER_NODES,
  MAX_CLUSTERS,
  startOnSharedPort,
  UnknownClusterError,
} from "./cluster.ts";
import { createControlHandler } from "./control.ts";
import { FakePeerSet } from "./fake-peer-set.ts";
import { isLoopbackIPv4 } from "./loopback.ts";
import { startNode } from "./node-server.ts";
import type { BackendNode, NodeOptions } from "./node-types.ts";
import { httpUrl, listen, shutdown, trackSockets } from "./server-lifecycle.ts";

/** Options for {@link startFleet}. */
export interface FleetOptions {
  /** Address for the control server and for nodes outside clusters; default 127.0.0.1. */
  host?: string;
  /** Control server port; 0 (default) picks a free one. */
  port?: number;
}

/** Options for a fleet node: a node's options, with the cluster named rather than given. */
export interface FleetNodeOptions extends Omit<NodeOptions, "host" | "id" | "cluster"> {
  /** Node id; default node-<n>, or <cluster>-<dc>-<rack>-<n> in a cluster, with the smallest free n. */
  id?: string;
  /** Loopback IPv4 address to bind; default the fleet's host, or the cluster's lowest free one. */
  host?: string;
  /** Cluster to join: the node then listens on the cluster's port and needs dc and rack. */
  cluster?: string;
}

/** A set of backend nodes plus the HTTP control server that drives them. */
export interface Fleet {
  /** Control server base URL. */
  readonly url: string;
  /** Control server port. */
  readonly port: number;
  /** Address of the control server and of nodes outside clusters. */
  readonly host: string;
  /** Running nodes by id, cluster members included. */
  readonly nodes: ReadonlyMap<string, BackendNode>;
  /** Clusters by name. */
  readonly clusters: ReadonlyMap<string, FleetCluster>;
  /** Fake peer gateways for peer route sync tests. */
  readonly peers: FakePeerSet;
  /** Starts a node; rejects with DuplicateNodeError for a taken id. */
  addNode(options?: FleetNodeOptions): Promise<BackendNode>;
  /** Closes and forgets a node, and drops it from its cluster; false when there was none. */
  removeNode(id: string): Promise<boolean>;
  /** Starts a cluster's nodes on distinct addresses and one shared port. */
  addCluster(options: ClusterOptions): Promise<FleetCluster>;
  /** Closes a cluster's members and frees its addresses; false when there was none. */
  removeCluster(name: string): Promise<boolean>;
  /** Closes the control server and every node. */
  close(): Promise<void>;
}

/** Raised by addNode for an id already in the fleet. */
export class DuplicateNodeError extends Error {
  override name = "DuplicateNodeError";
}

/** Node ids end up in URL paths, so they are kept to characters that need no escaping. */
export const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Starts an empty fleet and its control server. */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const host = options.host ?? "127.0.0.1";
  const fleet = new NodeFleet(host);
  const server = http.createServer(createControlHandler(fleet));
  server.keepAliveTimeout = 5_000;
  const sockets = trackSockets(server);
  fleet.attach(server, sockets, await listen(server, host, options.port ?? 0));
  return fleet;
}

/** What it takes to start one node of a cluster, once the shared port is known. */
type MemberPlan = Omit<NodeOptions, "port" | "cluster"> & { dc: string; rack: string };

class NodeFleet implements Fleet {
  readonly host: string;
  readonly nodes = new Map<string, BackendNode>();
  readonly clusters = new Map<string, Cluster>();
  readonly peers: FakePeerSet;
  /** Ids being started, held so two concurrent adds cannot both take one. */
  #reserved = new Set<string>();
  /** Cluster changes run one at a time, so names and addresses are handed out once. */
  #clusterChanges: Promise<unknown> = Promise.resolve();
  #server: http.Server | null = null;
  #sockets = new Set<Socket>();
  #port = 0;
  #closed = false;

  constructor(host: string) {
    this.host = host;
    this.peers = new FakePeerSet({ host });
  }

  attach(server: http.Server, sockets: Set<Socket>, port: number): void {
    this.#server = server;
    this.#sockets = sockets;
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return httpUrl(this.host, this.#port);
  }

  addNode(options: FleetNodeOptions = {}): Promise<BackendNode> {
    const { cluster: clusterName, ...rest } = options;
    if (rest.host !== undefined && !isLoopbackIPv4(rest.host)) {
      return Promise.reject(new InvalidOptionError(`host ${rest.host} is not in 127.0.0.0/8`));
    }
    if (clusterName !== undefined) return this.#serially(() => this.#join(clusterName, rest));
    return this.#launch({ ...rest, id: rest.id ?? this.#freeId(), host: rest.host ?? this.host });
  }

  async removeNode(id: string): Promise<boolean> {
    const node = this.nodes.get(id);
    if (!node) return false;
    this.nodes.delete(id);
    if (node.cluster !== undefined) this.clusters.get(node.cluster)?.members.delete(id);
    await node.close();
    return true;
  }

  addCluster(options: ClusterOptions): Promise<FleetCluster> {
    return this.#serially(() => this.#createCluster(options));
  }

  removeCluster(name: string): Promise<boolean> {
    return this.#serially(async () => {
      const cluster = this.clusters.get(name);
      if (!cluster) return false;
      this.clusters.delete(name);
      const members = [...cluster.members.values()];
      cluster.members.clear();
      for (const node of members) this.nodes.delete(node.id);
      await Promise.all(members.map((node) => node.close()));
      return true;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const server = this.#server;
    this.#server = null;
    const nodes = [...this.nodes.values()];
    this.nodes.clear();
    this.clusters.clear();
    await Promise.all([
      server ? shutdown(server, this.#sockets) : undefined,
      ...nodes.map((node) => node.close()),
      this.peers.close(),
    ]);
  }

  /** Starts one node under a reserved id and registers it, in its cluster too if given. */
  async #launch(options: NodeOptions, cluster?: Cluster): Promise<BackendNode> {
    const { id } = options;
    if (this.#taken(id)) throw new DuplicateNodeError(`node "${id}" already exists`);
    this.#reserved.add(id);
    try {
      const node = await startNode({ ...options, cluster });
      this.#register([node], cluster);
      return node;
    } finally {
      this.#reserved.delete(id);
    }
  }

  async #join(name: string, options: Omit<FleetNodeOptions, "cluster">): Promise<BackendNode> {
    const cluster = this.clusters.get(name);
    if (!cluster) throw new UnknownClusterError(`no cluster "${name}"`);
    const { dc, rack } = options;
    if (dc === undefined || rack === undefined) {
      throw new InvalidOptionError("a cluster node needs dc and rack");
    }
    if (options.port !== undefined && options.port !== cluster.port) {
      throw new InvalidOptionError(`cluster "${name}" nodes listen on port ${cluster.port}`);
    }
    const host = options.host ?? cluster.freeAddress();
    if (host === undefined) throw new InvalidOptionError(`cluster "${name}" has no free address`);
    const id = options.id ?? this.#freeMemberId(`${name}-${dc}-${rack}`);
    checkGeneratedId(id);
    return this.#launch({ ...options, id, host, port: cluster.port }, cluster);
  }

  async #createCluster(options: ClusterOptions): Promise<Cluster> {
    const name = options.name ?? this.#freeClusterName();
    if (this.clusters.has(name))
      throw new DuplicateClusterError(`cluster "${name}" already exists`);
    const cluster = new Cluster(name, this.#freeBlock(), options.addressFormat ?? "ip");
    const plan = planMembers(cluster, options);
    for (const { id } of plan) {
      if (this.#taken(id)) throw new DuplicateNodeError(`node "${id}" already exists`);
    }
    for (const { id } of plan) this.#reserved.add(id);
    try {
      const nodes = await startOnSharedPort(options.port, (port) =>
        plan.map((member) => startNode({ ...member, port, cluster })),
      );
      cluster.port = nodes[0]?.port ?? 0;
      this.#register(nodes, cluster);
      this.clusters.set(name, cluster);
      return cluster;
    } finally {
      for (const { id } of plan) this.#reserved.delete(id);
    }
  }

  /** Adds started nodes to the fleet, or closes them again if the fleet closed meanwhile. */
  #register(nodes: BackendNode[], cluster: Cluster | undefined): void {
    if (this.#closed) {
      for (const node of nodes) void node.close();
      throw new Error("fleet is closed");
    }
    for (const node of nodes) {
      this.nodes.set(node.id, node);
      cluster?.members.set(node.id, node);
    }
  }

  #serially<T>(change: () => Promise<T>): Promise<T> {
    const next = this.#clusterChanges.then(change);
    this.#clusterChanges = next.catch(() => {});
    return next;
  }

  #taken(id: string): boolean {
    return this.nodes.has(id) || this.#reserved.has(id);
  }

  #freeId(): string {
    let n = 1;
    while (this.#taken(`node-${n}`)) n += 1;
    return `node-${n}`;
  }

  #freeMemberId(prefix: string): string {
    let n = 1;
    while (this.#taken(`${prefix}-${n}`)) n += 1;
    return `${prefix}-${n}`;
  }

  #freeClusterName(): string {
    let n = 1;
    while (this.clusters.has(`cluster-${n}`)) n += 1;
    return `cluster-${n}`;
  }

  #freeBlock(): number {
    const used = new Set([...this.clusters.values()].map((cluster) => cluster.block));
    for (let block = 1; block <= MAX_CLUSTERS; block += 1) {
      if (!used.has(block)) return block;
    }
    throw new InvalidOptionError(`a fleet holds at most ${MAX_CLUSTERS} clusters`);
  }
}

/** Gives every node of the layout its id and address, numbering nodes within each rack. */
function planMembers(cluster: Cluster, options: ClusterOptions): MemberPlan[] {
  const total = options.layout.reduce((sum, rack) => sum + rack.count, 0);
  if (total < 1 || total > MAX_CLUSTER_NODES) {
    throw new InvalidOptionError(`a cluster has 1 to ${MAX_CLUSTER_NODES} nodes, not ${total}`);
  }
  const perRack = new Map<string, number>();
  const plan: MemberPlan[] = [];
  for (const { dc, rack, count, behaviour } of options.layout) {
    for (let i = 0; i < count; i += 1) {
      const prefix = `${cluster.name}-${dc}-${rack}`;
      const n = (perRack.get(prefix) ?? 0) + 1;
      perRack.set(prefix, n);
      const id = `${prefix}-${n}`;
      checkGeneratedId(id);
      const host = clusterAddress(cluster.block, plan.length + 1);
      plan.push({ id, host, dc, rack, behaviour });
    }
  }
  return plan;
}

function checkGeneratedId(id: string): void {
  if (!NODE_ID.test(id)) {
    throw new InvalidOptionError(`node id "${id}" is not 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
}
