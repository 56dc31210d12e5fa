import type { BehaviourPatch } from "./behaviour.ts";
import type { ClusterMembership, LocalNodesScope } from "./localnodes.ts";
import type { BackendNode } from "./node-types.ts";
import { ListenError } from "./server-lifecycle.ts";

/** How /localnodes entries are written: Alternator's bare IPs, or IP and port. */
export const ADDRESS_FORMATS = ["ip", "host:port"] as const;

/** Entry format of /localnodes answers: "127.1.2.3" or "127.1.2.3:9042". */
export type AddressFormat = (typeof ADDRESS_FORMATS)[number];

/** One rack's worth of nodes in a cluster layout. */
export interface RackLayout {
  /** Datacenter name. */
  dc: string;
  /** Rack name within the datacenter. */
  rack: string;
  /** Number of nodes to start in this rack. */
  count: number;
  /** Initial behaviour of these nodes. */
  behaviour?: BehaviourPatch;
}

/** Options for Fleet.addCluster. */
export interface ClusterOptions {
  /** Cluster name; default cluster-<n> with the smallest free n. */
  name?: string;
  /** Entry format of /localnodes answers; default "ip". */
  addressFormat?: AddressFormat;
  /** Port every node listens on; default a random one free on all of the cluster's addresses. */
  port?: number;
  /** Racks to start, in order; node ids are <name>-<dc>-<rack>-<i>. */
  layout: RackLayout[];
}

/** A cluster as the fleet reports it. */
export interface FleetCluster {
  /** Cluster name. */
  readonly name: string;
  /** Port shared by every member. */
  readonly port: number;
  /** Entry format of /localnodes answers. */
  readonly addressFormat: AddressFormat;
  /** Current members by id, in the order they joined. */
  readonly members: ReadonlyMap<string, BackendNode>;
}

/** Raised for a cluster name already in the fleet. */
export class DuplicateClusterError extends Error {
  override name = "DuplicateClusterError";
}

/** Raised when a cluster named in a request does not exist. */
export class UnknownClusterError extends Error {
  override name = "UnknownClusterError";
}

/** Raised for cluster or node options that are well-formed but cannot be satisfied. */
export class InvalidOptionError extends Error {
  override name = "InvalidOptionError";
}

/** Cluster k owns 127.1.k.1-254, so clusters of one fleet never share an address. */
export const MAX_CLUSTERS = 255;
/** Node addresses per cluster: 127.1.k.1 to 127.1.k.254, skipping the .0 and .255 look-alikes. */
export const MAX_CLUSTER_NODES = 254;

/** The address of node slot `n` (1-based) in address block `block`. */
export function clusterAddress(block: number, n: number): string {
  return `127.1.${block}.${n}`;
}

/** The cluster's members plus the address block it owns; answers /localnodes for them. */
export class Cluster implements FleetCluster, ClusterMembership {
  readonly name: string;
  /** Third octet of every member address. */
  readonly block: number;
  readonly addressFormat: AddressFormat;
  readonly members = new Map<string, BackendNode>();
  /** Set once the first members have bound it. */
  port = 0;

  constructor(name: string, block: number, addressFormat: AddressFormat) {
    this.name = name;
    this.block = block;
    this.addressFormat = addressFormat;
  }

  liveEntries(scope: LocalNodesScope): string[] {
    const entries: string[] = [];
    for (const node of this.members.values()) {
      if (!node.accepting() || node.dc !== scope.dc) continue;
      if (scope.rack !== undefined && node.rack !== scope.rack) continue;
      entries.push(this.addressFormat === "ip" ? node.host : `${node.host}:${node.port}`);
    }
    return entries;
  }

  /** The lowest block address no member holds and `taken` does not exclude. */
  freeAddress(taken: ReadonlySet<string> = new Set()): string | undefined {
    const held = new Set([...this.members.values()].map((node) => node.host));
    for (let n = 1; n <= MAX_CLUSTER_NODES; n += 1) {
      const host = clusterAddress(this.block, n);
      if (!held.has(host) && !taken.has(host)) return host;
    }
    return undefined;
  }
}

/** Random shared ports come from here: high, and clear of the well-known and registered ones. */
const PORT_MIN = 20_000;
const PORT_MAX = 60_999;
/** Enough that a run of unlucky draws on a busy machine is vanishingly rare. */
const PORT_ATTEMPTS = 25;

/**
 * Starts a group of nodes that must share one port. Port 0 cannot be used, as each socket
 * would get its own; instead a random port is tried on every address at once, and on
 * EADDRINUSE anywhere all are closed and another port is drawn. A fixed port gets one try.
 */
export async function startOnSharedPort(
  fixedPort: number | undefined,
  start: (port: number) => Promise<BackendNode>[],
): Promise<BackendNode[]> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (fixedPort === undefined ? PORT_ATTEMPTS : 1); attempt += 1) {
    const port = fixedPort ?? PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    const results = await Promise.allSettled(start(port));
    const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failure = results.find((r) => r.status === "rejected");
    if (!failure) return started;
    await Promise.all(started.map((node) => node.close()));
    lastError = failure.reason;
    if (!(lastError instanceof ListenError && lastError.code === "EADDRINUSE")) break;
  }
  throw lastError;
}
