/**
 * Where Durable Objects are named and their stubs made. Every object's name is spelled here and
 * nowhere else, so the dispatch, the services API, sync and readmission always reach the same
 * object.
 */

/** Name of a gateway's RouteSync object; the id prefix lets several gateways share one runtime. */
function routeSyncName(gatewayId: string): string {
  return `sync:${gatewayId}`;
}

/** Name of one of a gateway's PeerShard fan-out objects. */
function peerShardName(gatewayId: string, index: number): string {
  return `sync:${gatewayId}:shard-${index}`;
}

/** A service's rotation coordinator (and ledger of ejections). */
export function coordinatorOf(env: Env, service: string) {
  return env.ROTATION.get(env.ROTATION.idFromName(service));
}

/** A service's live-node object (membership, discovery, health). */
export function liveNodesOf(env: Env, service: string) {
  return env.LIVE_NODES.get(env.LIVE_NODES.idFromName(service));
}

/** A gateway's RouteSync object, by the gateway's id. */
export function routeSyncOf(env: Env, gatewayId: string) {
  return env.ROUTE_SYNC.get(env.ROUTE_SYNC.idFromName(routeSyncName(gatewayId)));
}

/**
 * The object holding the dashboard's session generation: a RouteSync instance apart from every
 * gateway's own (those are named `sync:<gatewayId>`), so it exists whether or not peers are set.
 */
export function dashboardSessionsOf(env: Env) {
  return env.ROUTE_SYNC.get(env.ROUTE_SYNC.idFromName("dashboard"));
}

/** One of a gateway's PeerShard objects. */
export function peerShardOf(env: Env, gatewayId: string, index: number) {
  return env.PEER_SHARD.get(env.PEER_SHARD.idFromName(peerShardName(gatewayId, index)));
}

/** What a gate's name and placement depend on. */
export interface GateTarget {
  readonly service: string;
  readonly nodeId: string;
  /** Lock scope `global`: one gate for the whole service (the dispatch benchmark's baseline). */
  readonly global?: boolean;
  readonly locationHint?: string | undefined;
}

/** The name of the gate a node's traffic passes. */
function gateName(target: GateTarget): string {
  return target.global ? `${target.service}#global` : `${target.service}/${target.nodeId}`;
}

/** Every gate that may hold health for a node: its own, and the service's global one. */
function gateNamesOf(service: string, nodeId: string): string[] {
  return [gateName({ service, nodeId }), gateName({ service, nodeId, global: true })];
}

/** The stub of a node's gate, placed by the node's location hint on first use. */
export function gateStub(env: Env, target: GateTarget) {
  const hint = target.locationHint
    ? { locationHint: target.locationHint as DurableObjectLocationHint }
    : undefined;
  return env.NODE_GATE.get(gateId(env.NODE_GATE, gateName(target)), hint);
}

/** The gate a service's dispatches to `node` pass: the node's own, or under lock scope `global` the service's. */
export function gateOf(
  env: Env,
  service: { readonly name: string; readonly lockScope: "node" | "global" },
  node: { readonly id: string; readonly locationHint?: string | undefined },
) {
  return gateStub(env, {
    service: service.name,
    nodeId: node.id,
    global: service.lockScope === "global",
    locationHint: node.locationHint,
  });
}

/**
 * Lifts a node's ejection everywhere it is kept: in the service's coordinator (which isolates
 * learn ejections from) and in each gate that may hold the node's health.
 */
export async function readmitNode(env: Env, service: string, nodeId: string): Promise<void> {
  await coordinatorOf(env, service).readmit(nodeId);
  for (const gate of gateNamesOf(service, nodeId)) {
    await env.NODE_GATE.get(gateId(env.NODE_GATE, gate)).readmit(nodeId);
  }
}

/** The benchmark-only object the stream benchmark measures in, one per node it targets. */
export function streamBenchOf(env: Env, service: string, nodeId: string) {
  return env.STREAM_BENCH.get(env.STREAM_BENCH.idFromName(`${service}/${nodeId}`));
}

// Deriving an id from a name hashes it on every call; the ids of the gates an isolate dispatches
// to are few and never change, so each is derived once. Keyed by namespace, since an id is only
// valid with the namespace that made it.
const gateIds = new WeakMap<DurableObjectNamespace, Map<string, DurableObjectId>>();
const MAX_CACHED_GATE_IDS = 10_000;

function gateId(namespace: DurableObjectNamespace, name: string): DurableObjectId {
  let ids = gateIds.get(namespace);
  if (!ids) {
    ids = new Map();
    gateIds.set(namespace, ids);
  }
  let id = ids.get(name);
  if (!id) {
    // Discovery can churn node ids without end; start over rather than grow without bound.
    if (ids.size >= MAX_CACHED_GATE_IDS) ids.clear();
    id = namespace.idFromName(name);
    ids.set(name, id);
  }
  return id;
}
