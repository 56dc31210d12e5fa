import { DurableObject } from "cloudflare:workers";
import type { ProbeState } from "../balancer/health-probe.ts";
import { type ScopeLevel, scopeKey } from "../balancer/scope.ts";
import type { ServiceConfig } from "../config/schema.ts";
import { type NodeFetcher, nodeFetcher } from "../dispatch/egress.ts";
import { noDiscoveryCounts, secretHeaders } from "./discovery.ts";
import { type DiscoveredState, discoveryRound, roundLevels } from "./discovery-round.ts";
import { probeNodes } from "./live-health.ts";
import { hostOf, LiveMembership } from "./live-membership.ts";
import type {
  DeclaredNode,
  LiveNodesConfig,
  LiveNodesReport,
  RemoveResult,
  SyncedNodeChange,
  ViewRequest,
  ViewResponse,
} from "./live-nodes-types.ts";
import { coordinatorOf, readmitNode } from "./stubs.ts";
import { recordRouteChange, recordRouteChangeOrLog } from "./sync-record.ts";

interface State extends DiscoveredState {
  config?: LiveNodesConfig;
  configJson?: string;
  registered: DeclaredNode[];
  probes: Record<string, ProbeState>;
  firstSeen: Record<string, number>;
  chains: Record<string, { chain: ScopeLevel[]; usedAt: number }>;
  version: number;
  lastTrafficAt: number;
  lastDiscoveryAt: number;
  lastHealthAt: number;
}

const STATE_KEY = "state";
const MAX_CHAINS = 16;
/** Outbound connections one Worker invocation may hold open at once. */
const _CONNECTIONS = 6;
/** A service nobody has asked about for this long stops refreshing until traffic returns. */
const DORMANT_AFTER_MS = 24 * 3_600_000;

/**
 * One per service: the service's live membership. It learns nodes from `/localnodes` on its
 * alarm (fast while the service has traffic, slow when idle), probes their health, keeps the
 * nodes registered through the admin API, and persists all of it so a restart serves the last
 * known nodes at once. Isolates cache what it answers by version and ask again only once their
 * copy is older than the active refresh interval.
 */
export class LiveNodes extends DurableObject<Env> {
  #state: State;
  readonly #membership = new LiveMembership(() => this.#state);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const stored = ctx.storage.kv.get<State>(STATE_KEY);
    // State stored by an older version lacks the newer fields: defaults fill them in.
    this.#state = {
      registered: [],
      discovered: {},
      confirmedAt: {},
      probes: {},
      firstSeen: {},
      chains: {},
      version: 1,
      lastTrafficAt: 0,
      lastDiscoveryAt: 0,
      lastHealthAt: 0,
      ...stored,
      counters: { ...noDiscoveryCounts(), ...stored?.counters },
    };
  }

  /** The chain's levels, discovering them first if this chain has never been asked for. */
  async view(request: ViewRequest): Promise<ViewResponse> {
    const now = Date.now();
    this.#adopt(request.config);
    const key = request.chain.map(scopeKey).join(">");
    const fresh = !this.#state.chains[key];
    this.#state.chains[key] = { chain: [...request.chain], usedAt: now };
    this.#trimChains();
    const wasIdle = now - this.#state.lastTrafficAt >= this.#idleInterval();
    this.#state.lastTrafficAt = now;
    if (fresh && this.#state.config?.discovery) await this.#discover([request.chain]);
    await this.#wake(wasIdle);
    this.#save();
    const version = this.#state.version;
    return version === request.knownVersion
      ? { version }
      : { version, levels: this.#membership.levels(request.chain) };
  }

  /**
   * Adds a node and records it for the peers, or neither: false when its id is taken;
   * throws, with nothing changed, when the change could not be recorded for the peers.
   */
  async register(config: LiveNodesConfig, node: DeclaredNode): Promise<boolean> {
    this.#adopt(config);
    const taken = () => this.#membership.allNodes().some((n) => n.id === node.id);
    if (taken()) return false;
    const { url, dc, rack, weight } = node;
    const record = { kind: "upsert" as const, record: { url, dc, rack, weight } };
    await recordRouteChange(this.env, config.gatewayId, config.service, node.id, record);
    // The record's await let other calls in: take the id only if it is still free.
    if (taken()) return false;
    this.#state.registered.push(node);
    this.#state.firstSeen[node.id] = Date.now();
    this.#changed();
    return true;
  }

  /**
   * Removes a registered node and records that for the peers, or neither; configured and
   * discovered nodes are not the admin API's to remove.
   */
  async remove(config: LiveNodesConfig, nodeId: string): Promise<RemoveResult> {
    this.#adopt(config);
    if (!this.#state.registered.some((n) => n.id === nodeId)) {
      const known = this.#membership.allNodes().some((n) => n.id === nodeId);
      return known ? "not-registered" : "not-found";
    }
    await recordRouteChange(this.env, config.gatewayId, config.service, nodeId, { kind: "remove" });
    const at = this.#state.registered.findIndex((n) => n.id === nodeId);
    if (at < 0) return "not-found";
    this.#state.registered.splice(at, 1);
    this.#changed();
    return "removed";
  }

  /**
   * Applies a registration made or withdrawn on a peer gateway, without adopting a configuration
   * (the caller has none to give). A configured node's id is the configuration's: never replaced.
   * True when the registered nodes changed.
   */
  applySynced(change: SyncedNodeChange): boolean {
    const at = this.#state.registered.findIndex(
      (n) => n.id === (change.kind === "upsert" ? change.node.id : change.nodeId),
    );
    if (change.kind === "remove") {
      if (at < 0) return false;
      this.#state.registered.splice(at, 1);
      this.#changed();
      return true;
    }
    const node = change.node;
    if (this.#state.config?.nodes.some((n) => n.id === node.id)) return false;
    const current = this.#state.registered[at];
    if (current && JSON.stringify(current) === JSON.stringify(node)) return false;
    if (current) this.#state.registered[at] = node;
    else {
      this.#state.registered.push(node);
      this.#state.firstSeen[node.id] = Date.now();
    }
    this.#changed();
    return true;
  }

  /** Everything known, with the levels of `chain`, for the services API; not counted as traffic. */
  async report(config: LiveNodesConfig, chain: readonly ScopeLevel[]): Promise<LiveNodesReport> {
    this.#adopt(config);
    this.#save();
    return {
      levels: this.#membership.levels(chain),
      version: this.#state.version,
      registered: this.#state.registered,
      discovered: this.#state.discovered,
      probes: this.#state.probes,
      pace: Date.now() - this.#state.lastTrafficAt < this.#idleInterval() ? "active" : "idle",
      lastTrafficAt: this.#state.lastTrafficAt,
      nextAlarmAt: await this.ctx.storage.getAlarm(),
      discovery: this.#state.counters,
    };
  }

  /** Refreshes whatever is due, then sets the next wake-up. */
  override async alarm(): Promise<void> {
    const config = this.#state.config;
    if (!config) return;
    const now = Date.now();
    try {
      if (
        config.discovery &&
        now - this.#state.lastDiscoveryAt >= this.#discoveryInterval(now) - 5
      ) {
        await this.#discover(Object.values(this.#state.chains).map((c) => c.chain));
      }
      if (config.health && now - this.#state.lastHealthAt >= config.health.intervalMs - 5) {
        await this.#checkHealth(config.health);
      }
    } catch (error) {
      // A failed round keeps the last good state; the next alarm tries again.
      console.error(`live nodes ${config.service}: refresh failed: ${String(error)}`);
    }
    this.#save();
    await this.#schedule();
  }

  #adopt(config: LiveNodesConfig): void {
    const json = JSON.stringify(config);
    if (json === this.#state.configJson) return;
    // Nodes present when the service first starts take full traffic at once; slow start is for
    // nodes that join or return while others already carry the load.
    const joined = this.#state.config === undefined ? 0 : Date.now();
    this.#state.config = config;
    this.#state.configJson = json;
    for (const node of config.nodes) this.#state.firstSeen[node.id] ??= joined;
    this.#changed();
  }

  #changed(): void {
    this.#state.version++;
    this.#save();
  }

  #save(): void {
    this.ctx.storage.kv.put(STATE_KEY, this.#state);
  }

  #idleInterval(): number {
    return this.#state.config?.discovery?.idleIntervalMs ?? 60_000;
  }

  /** Fast while the service has had traffic within the idle interval, slow otherwise. */
  #discoveryInterval(now: number): number {
    const discovery = this.#state.config?.discovery;
    if (!discovery) return Number.POSITIVE_INFINITY;
    return now - this.#state.lastTrafficAt < discovery.idleIntervalMs
      ? discovery.activeIntervalMs
      : discovery.idleIntervalMs;
  }

  /** Brings the next refresh forward when traffic returns after an idle spell. */
  async #wake(wasIdle: boolean): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || wasIdle) await this.#schedule();
  }

  async #schedule(): Promise<void> {
    const config = this.#state.config;
    const now = Date.now();
    if (!config || now - this.#state.lastTrafficAt > DORMANT_AFTER_MS) return;
    const healthAt = this.#state.lastHealthAt + (config.health?.intervalMs ?? Infinity);
    const next = Math.min(this.#state.lastDiscoveryAt + this.#discoveryInterval(now), healthAt);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(Math.max(now, next));
  }

  #trimChains(): void {
    const entries = Object.entries(this.#state.chains);
    if (entries.length <= MAX_CHAINS) return;
    entries.sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [key] of entries.slice(0, entries.length - MAX_CHAINS))
      delete this.#state.chains[key];
  }

  /**
   * One discovery round over every level of every chain in use and, at the cluster level, every
   * datacenter the configuration names. A node that left the lists and now returns is readmitted.
   */
  async #discover(chains: readonly (readonly ScopeLevel[])[]): Promise<void> {
    const config = this.#state.config;
    const discovery = config?.discovery;
    if (!config || !discovery) return;
    const now = Date.now();
    this.#state.lastDiscoveryAt = now;
    this.#state.counters.rounds++;
    let via: NodeFetcher;
    let headers: Record<string, string>;
    try {
      via = nodeFetcher(this.env, config.egress);
      headers = secretHeaders(this.env, discovery.headers);
    } catch (error) {
      this.#state.counters.failures++;
      this.#state.counters.lastFailure = String(error);
      return;
    }
    const result = await discoveryRound(this.#state, {
      settings: discovery,
      levels: roundLevels(chains, discovery.datacenters),
      policy: this.#membership.policy(),
      via,
      headers,
      healthy: (origin) => this.#state.probes[new URL(origin).host]?.healthy !== false,
      now,
    });
    const joined = result.first ? 0 : now;
    for (const url of result.added) {
      const id = hostOf(url);
      if ((this.#state.firstSeen[id] ?? -1) >= 0 && !result.first) {
        this.#state.firstSeen[id] = now;
        await this.#readmit(id);
      } else this.#state.firstSeen[id] ??= joined;
    }
    if (result.moved) this.#changed();
  }

  /**
   * A node that left the lists and came back was restarted or repaired: an ejection earned before
   * it left says nothing about it now. Lifting it (as Envoy does on a passing health check) lets
   * traffic, ramped by slow start, return at once instead of after the ejection runs out.
   */
  async #readmit(nodeId: string): Promise<void> {
    const service = this.#state.config?.service;
    if (!service) return;
    try {
      await readmitNode(this.env, service, nodeId);
      await recordRouteChangeOrLog(this.env, this.#state.config?.gatewayId, service, nodeId, {
        kind: "readmit",
      });
    } catch (error) {
      console.warn(`live nodes ${service}: could not readmit ${nodeId}: ${String(error)}`);
    }
  }

  async #checkHealth(health: NonNullable<ServiceConfig["health"]>): Promise<void> {
    const config = this.#state.config;
    if (!config) return;
    this.#state.lastHealthAt = Date.now();
    const targets = this.#membership.allNodes();
    let via: NodeFetcher;
    try {
      via = nodeFetcher(this.env, config.egress);
    } catch (error) {
      // Without its binding no probe can pass or fail; the last known health stands.
      console.warn(`live nodes ${config.service}: ${String(error)}`);
      return;
    }
    const { flipped, passing } = await probeNodes(this.#state.probes, targets, health, via);
    if (flipped) this.#changed();
    await this.#unejectPassing(passing);
  }

  /**
   * An ejected node whose active check passes is readmitted at once (Envoy's default): a node that
   * fails some requests but answers its checks, such as one that flaps, would otherwise sit out a
   * whole ejection with capacity lost; retries cover the requests it still fails.
   */
  async #unejectPassing(passing: ReadonlySet<string>): Promise<void> {
    const service = this.#state.config?.service;
    if (!service || passing.size === 0) return;
    try {
      const ejected = await coordinatorOf(this.env, service).ejectedNodes();
      for (const { nodeId } of ejected) if (passing.has(nodeId)) await this.#readmit(nodeId);
    } catch (error) {
      console.warn(`live nodes ${service}: could not check ejections: ${String(error)}`);
    }
  }
}
