import type { MemberNode } from "../balancer/membership.ts";
import { type ScopeLevel, scopeChain, scopeKey } from "../balancer/scope.ts";
import type { ResolvedService, SyncConfig } from "../config/load.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import type { GateStats } from "../durable/gate/node-gate.ts";
import { coordinatorOf, gateStub, liveNodesOf, peerShardOf } from "../durable/stubs.ts";
import type { PeerView } from "../durable/sync/peer-shard-contract.ts";
import { shardOf } from "../sync/fanout.ts";
import { eachLimited } from "../util/each-limited.ts";
import { ensureSyncConfigured } from "./sync-runtime.ts";

// What the services API shows of a service, gathered from its objects: the live-node object's
// report, the coordinator's ejections, each node's gate and each peer shard.

/** A service in the list of services. */
export function summary(service: ResolvedService) {
  return {
    name: service.name,
    policy: service.policy,
    lockScope: service.lockScope,
    configuredNodes: service.nodes.length,
    discovery: service.discovery !== undefined,
    healthChecks: service.health !== undefined,
  };
}

/** The nodes of each level of `chain`, and which are ejected. */
export async function membership(env: Env, service: ResolvedService, chain: ScopeLevel[]) {
  const live = liveNodesOf(env, service.name);
  const coordinator = coordinatorOf(env, service.name);
  const [report, ejections] = await Promise.all([
    live.report(runtimeFor(service).liveConfig, chain),
    coordinator.ejectedNodes(),
  ]);
  const ejected = new Map(ejections.map((e) => [e.nodeId, e.until]));
  return { report, ejected, nodes: report.levels.map((l) => l.nodes as MemberNode[]) };
}

/** Every peer's sync state, pending counted for this service, from the fan-out shards. */
async function peerStatus(
  env: Env,
  sync: SyncConfig | undefined,
  service: string,
): Promise<PeerView[]> {
  if (!sync) return [];
  await ensureSyncConfigured(env, sync);
  const shards = [...new Set(sync.peers.map((p) => shardOf(p.name, sync.settings.shards)))];
  const views: PeerView[] = [];
  await eachLimited(shards, 6, async (index) => {
    views.push(...(await peerShardOf(env, sync.gatewayId, index).status(service)));
  });
  return views.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
}

/** What a service's objects hold right now: membership, ejections, gates and peers. */
export async function gather(env: Env, service: ResolvedService, sync?: SyncConfig) {
  const chain = scopeChain(
    { dc: service.scope.dc, rack: service.scope.rack },
    service.scope.fallback,
  );
  const { report, ejected, nodes } = await membership(env, service, chain);
  const byId = new Map<string, { node: MemberNode; levels: string[] }>();
  nodes.forEach((level, i) => {
    for (const node of level) {
      const entry = byId.get(node.id) ?? { node, levels: [] };
      entry.levels.push(scopeKey(chain[i] as ScopeLevel));
      byId.set(node.id, entry);
    }
  });
  const gates = new Map<string, GateStats>();
  await eachLimited([...byId.keys()], 6, async (id) => {
    const global = service.lockScope === "global";
    const gate = gateStub(env, { service: service.name, nodeId: id, global });
    gates.set(id, await gate.stats());
  });
  const peers = await peerStatus(env, sync, service.name);
  const takes = (n: MemberNode) => n.healthy && !n.draining && !ejected.has(n.id);
  const serving = nodes.findIndex((level) => level.some(takes));
  const servingLevel = (nodes[serving] ?? []).filter((n) => n.draining !== "operator");
  const routable = servingLevel.filter(takes).length;
  const panic = serving < 0 || routable < service.panicThreshold * servingLevel.length;
  return { chain, report, ejected, byId, gates, peers, serving, routable, panic };
}

/** Everything the services API shows about one service. */
export async function detail(env: Env, service: ResolvedService, sync?: SyncConfig) {
  const { chain, report, ejected, byId, gates, peers, serving, panic } = await gather(
    env,
    service,
    sync,
  );
  const registered = new Set(report.registered.map((n) => n.id));
  const configured = new Set(service.nodes.map((n) => n.id));
  return {
    ...summary(service),
    version: report.version,
    scope: {
      chain: chain.map(scopeKey),
      serving: serving >= 0 ? scopeKey(chain[serving] as ScopeLevel) : null,
      panic,
    },
    discoveryState: {
      pace: report.pace,
      lastTrafficAt: report.lastTrafficAt,
      nextAlarmAt: report.nextAlarmAt,
      ...report.discovery,
    },
    nodes: [...byId.values()].map(({ node, levels }) => {
      const gate = gates.get(node.id);
      return {
        id: node.id,
        url: node.url,
        dc: node.dc,
        rack: node.rack,
        weight: node.weight,
        draining: node.draining !== undefined,
        ...(node.draining ? { drainedBy: node.draining } : {}),
        source: configured.has(node.id)
          ? "config"
          : registered.has(node.id)
            ? "registered"
            : "discovered",
        levels,
        healthy: node.healthy,
        ejectedUntil: ejected.get(node.id) ?? null,
        failureStreak: gate?.health[node.id]?.streak ?? 0,
        inFlight: gate?.inFlight ?? 0,
        queued: gate?.queued ?? 0,
        leased: gate?.leased ?? 0,
        leaseHolders: gate?.leaseHolders ?? 0,
      } as const;
    }),
    peers,
  };
}

/** A node URL as an Alternator list entry: the bare host when it uses the service's port. */
export function address(url: string, port: number | undefined): string {
  const parsed = new URL(url);
  const effective = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return port !== undefined && String(port) === effective ? parsed.hostname : parsed.host;
}
