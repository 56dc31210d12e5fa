import type { ProbeState } from "../../balancer/health-probe.ts";
import type { MembershipLevel } from "../../balancer/membership.ts";
import type { ScopeLevel } from "../../balancer/scope.ts";
import type { EgressConfig } from "../../config/network-schema.ts";
import type { ServiceConfig } from "../../config/schema.ts";
import type { DiscoveryCounters } from "./discovery.ts";

/** What isolates and the admin API exchange with a service's LiveNodes object. */

/** A node the configuration lists or the admin API registered. */
export interface DeclaredNode {
  readonly id: string;
  readonly url: string;
  readonly dc?: string;
  readonly rack?: string;
  readonly weight: number;
  readonly locationHint?: string;
}

/** What the live-node object needs of a service's configuration; isolates send it with each call. */
export interface LiveNodesConfig {
  readonly service: string;
  readonly nodes: readonly DeclaredNode[];
  readonly discovery?: ServiceConfig["discovery"];
  readonly health?: ServiceConfig["health"];
  /** This gateway's id when peer route sync is on: readmissions are then recorded for the peers. */
  readonly gatewayId?: string;
  /** How probes and discovery reach the nodes. */
  readonly egress: EgressConfig;
  /** The service's `allow` list, applied to every discovered and synced node. */
  readonly allow: readonly string[];
}

/** An operator's setting for one node, kept apart from how the node was declared. */
export interface NodeSetting {
  /** Out of rotation for new dispatches; in-flight ones finish. */
  readonly draining: boolean;
  /** Weight in place of the declared one; null keeps the declared weight. */
  readonly weight: number | null;
}

/**
 * A setting as the live-node object keeps it: who drained the node. This gateway's operator's
 * drain outranks panic; a drain that arrived from a peer counts only as an ejection does, so a
 * peer holding the sync secret cannot take every node out (absent: an operator's, as before).
 */
export interface KeptSetting extends NodeSetting {
  readonly drainedBy?: DrainSource;
}

/** Who drained a node: this gateway's operator, or a peer gateway's, carried by route sync. */
export type DrainSource = "operator" | "peer";

/** The fields of a setting an operator changes; absent ones stay. */
export type SettingPatch = Partial<NodeSetting>;

/** A registration or operator setting another gateway made or withdrew (peer route sync). */
export type SyncedNodeChange =
  | { readonly kind: "upsert"; readonly node: DeclaredNode }
  | { readonly kind: "remove"; readonly nodeId: string }
  | { readonly kind: "operate"; readonly nodeId: string; readonly setting: NodeSetting };

/** An isolate asking for the nodes of a scope chain. */
export interface ViewRequest {
  readonly config: LiveNodesConfig;
  readonly chain: readonly ScopeLevel[];
  /** The version the isolate holds; levels are sent only when it moved. */
  readonly knownVersion: number;
}

/** The nodes of each level of the chain, with the version they belong to. */
export interface ViewResponse {
  readonly version: number;
  readonly levels?: readonly MembershipLevel[];
}

/** Everything the services API shows about a service's membership. */
export interface LiveNodesReport {
  readonly version: number;
  readonly registered: readonly DeclaredNode[];
  readonly discovered: Readonly<Record<string, { urls: readonly string[]; at: number }>>;
  readonly probes: Readonly<Record<string, ProbeState>>;
  /** Operators' drains and weights, by node id. */
  readonly settings: Readonly<Record<string, NodeSetting>>;
  /** Probe passes, failures and turns to unhealthy, by node id. */
  readonly healthTally: Readonly<Record<string, { pass: number; fail: number; downs: number }>>;
  readonly pace: "active" | "idle";
  readonly lastTrafficAt: number;
  readonly nextAlarmAt: number | null;
  readonly discovery: DiscoveryCounters;
  /** The levels of the chain asked about. */
  readonly levels: readonly MembershipLevel[];
}

/** Why a node could not be removed. */
export type RemoveResult = "removed" | "not-found" | "not-registered";
