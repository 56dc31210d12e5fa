import { DurableObject } from "cloudflare:workers";
import { type ProbeState, recordProbe, unprobed } from "../balancer/health-probe.ts";
import type { MemberNode, MembershipLevel } from "../balancer/membership.ts";
import { inScope, type ScopeLevel, scopeKey } from "../balancer/scope.ts";
import type { ServiceConfig } from "../config/schema.ts";
import { eachLimited } from "../util/each-limited.ts";
import { type DiscoveryCounters, probe, queryLevel, shuffled } from "./discovery.ts";
import { gateNamesOf } from "./stubs.ts";
import { recordRouteChange } from "./sync-record.ts";

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
}

/** A registration another gateway made or withdrew (peer route sync). */
export type SyncedNodeChange =
  | { readonly kind: "upsert"; readonly node: DeclaredNode }
  | { readonly kind: "remove"; readonly nodeId: string };

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
  readonly pace: "active" | "idle";
  readonly lastTrafficAt: number;
  readonly nextAlarmAt: number | null;
  readonly discovery: DiscoveryCounters;
  /** The levels of the chain asked about. */
  readonly levels: readonly MembershipLevel[];
}

/** Why a node could not be removed. */
export type RemoveResult = "removed" | "not-found" | "not-registered";

interface State {
  config?: LiveNodesConfig;
  configJson?: string;
  registered: DeclaredNode[];
  discovered: Record<string, { urls: string[]; at: number }>;
  probes: Record<string, ProbeState>;
  firstSeen: Record<string, number>;
  chains: Record<string, { chain: ScopeLevel[]; usedAt: number }>;
  version: number;
  lastTrafficAt: number;
  lastDiscoveryAt: number;
  lastHealthAt: number;
  counters: DiscoveryCounters;
}

const STATE_KEY = "state";
const MAX_CHAINS = 16;
/** Known nodes asked per level and round before turning to the seeds. */
const KNOWN_CANDIDATES = 3;
/** Outbound connections one Worker invocation may hold open at once. */
const CONNECTIONS = 6;
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
  private state: State;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = ctx.storage.kv.get<State>(STATE_KEY) ?? {
      registered: [],
      discovered: {},
      probes: {},
      firstSeen: {},
      chains: {},
      version: 1,
      lastTrafficAt: 0,
      lastDiscoveryAt: 0,
      lastHealthAt: 0,
      counters: { rounds: 0, requests: 0, failures: 0 },
    };
  }

  /** The chain's levels, discovering them first if this chain has never been asked for. */
  async view(request: ViewRequest): Promise<ViewResponse> {
    const now = Date.now();
    this.adopt(request.config);
    const key = request.chain.map(scopeKey).join(">");
    const fresh = !this.state.chains[key];
    this.state.chains[key] = { chain: [...request.chain], usedAt: now };
    this.trimChains();
    const wasIdle = now - this.state.lastTrafficAt >= this.idleInterval();
    this.state.lastTrafficAt = now;
    if (fresh && this.state.config?.discovery) await this.discover([request.chain]);
    await this.wake(wasIdle);
    this.save();
    const version = this.state.version;
    return version === request.knownVersion
      ? { version }
      : { version, levels: this.levels(request.chain) };
  }

  /** Adds a node; false when the id is taken. */
  register(config: LiveNodesConfig, node: DeclaredNode): boolean {
    this.adopt(config);
    if (this.allNodes().some((n) => n.id === node.id)) return false;
    this.state.registered.push(node);
    this.state.firstSeen[node.id] = Date.now();
    this.changed();
    return true;
  }

  /** Removes a registered node; configured and discovered nodes are not the admin API's to remove. */
  remove(config: LiveNodesConfig, nodeId: string): RemoveResult {
    this.adopt(config);
    const at = this.state.registered.findIndex((n) => n.id === nodeId);
    if (at >= 0) {
      this.state.registered.splice(at, 1);
      this.changed();
      return "removed";
    }
    return this.allNodes().some((n) => n.id === nodeId) ? "not-registered" : "not-found";
  }

  /**
   * Applies a registration made or withdrawn on a peer gateway, without adopting a configuration
   * (the caller has none to give). A configured node's id is the configuration's: never replaced.
   * True when the registered nodes changed.
   */
  applySynced(change: SyncedNodeChange): boolean {
    const at = this.state.registered.findIndex(
      (n) => n.id === (change.kind === "upsert" ? change.node.id : change.nodeId),
    );
    if (change.kind === "remove") {
      if (at < 0) return false;
      this.state.registered.splice(at, 1);
      this.changed();
      return true;
    }
    const node = change.node;
    if (this.state.config?.nodes.some((n) => n.id === node.id)) return false;
    const current = this.state.registered[at];
    if (current && JSON.stringify(current) === JSON.stringify(node)) return false;
    if (current) this.state.registered[at] = node;
    else {
      this.state.registered.push(node);
      this.state.firstSeen[node.id] = Date.now();
    }
    this.changed();
    return true;
  }

  /** Everything known, with the levels of `chain`, for the services API; not counted as traffic. */
  async report(config: LiveNodesConfig, chain: readonly ScopeLevel[]): Promise<LiveNodesReport> {
    this.adopt(config);
    this.save();
    return {
      levels: this.levels(chain),
      version: this.state.version,
      registered: this.state.registered,
      discovered: this.state.discovered,
      probes: this.state.probes,
      pace: Date.now() - this.state.lastTrafficAt < this.idleInterval() ? "active" : "idle",
      lastTrafficAt: this.state.lastTrafficAt,
      nextAlarmAt: await this.ctx.storage.getAlarm(),
      discovery: this.state.counters,
    };
  }

  /** Refreshes whatever is due, then sets the next wake-up. */
  override async alarm(): Promise<void> {
    const config = this.state.config;
    if (!config) return;
    const now = Date.now();
    try {
      if (config.discovery && now - this.state.lastDiscoveryAt >= this.discoveryInterval(now) - 5) {
        await this.discover(Object.values(this.state.chains).map((c) => c.chain));
      }
      if (config.health && now - this.state.lastHealthAt >= config.health.intervalMs - 5) {
        await this.checkHealth(config.health);
      }
    } catch (error) {
      // A failed round keeps the last good state; the next alarm tries again.
      console.error(`live nodes ${config.service}: refresh failed: ${String(error)}`);
    }
    this.save();
    await this.schedule();
  }

  private adopt(config: LiveNodesConfig): void {
    const json = JSON.stringify(config);
    if (json === this.state.configJson) return;
    // Nodes present when the service first starts take full traffic at once; slow start is for
    // nodes that join or return while others already carry the load.
    const joined = this.state.config === undefined ? 0 : Date.now();
    this.state.config = config;
    this.state.configJson = json;
    for (const node of config.nodes) this.state.firstSeen[node.id] ??= joined;
    this.changed();
  }

  private changed(): void {
    this.state.version++;
    this.save();
  }

  private save(): void {
    this.ctx.storage.kv.put(STATE_KEY, this.state);
  }

  private idleInterval(): number {
    return this.state.config?.discovery?.idleIntervalMs ?? 60_000;
  }

  /** Fast while the service has had traffic within the idle interval, slow otherwise. */
  private discoveryInterval(now: number): number {
    const discovery = this.state.config?.discovery;
    if (!discovery) return Number.POSITIVE_INFINITY;
    return now - this.state.lastTrafficAt < discovery.idleIntervalMs
      ? discovery.activeIntervalMs
      : discovery.idleIntervalMs;
  }

  /** Brings the next refresh forward when traffic returns after an idle spell. */
  private async wake(wasIdle: boolean): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || wasIdle) await this.schedule();
  }

  private async schedule(): Promise<void> {
    const config = this.state.config;
    const now = Date.now();
    if (!config || now - this.state.lastTrafficAt > DORMANT_AFTER_MS) return;
    const due = [
      this.state.lastDiscoveryAt + this.discoveryInterval(now),
      config.health ? this.state.lastHealthAt + config.health.intervalMs : Number.POSITIVE_INFINITY,
    ];
    const next = Math.min(...due);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(Math.max(now, next));
  }

  private trimChains(): void {
    const entries = Object.entries(this.state.chains);
    if (entries.length <= MAX_CHAINS) return;
    entries.sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [key] of entries.slice(0, entries.length - MAX_CHAINS))
      delete this.state.chains[key];
  }

  /**
   * One discovery round. Every level of every chain in use is asked for, preferred level first,
   * so a recovered preferred level is seen on the very next round and the fallback levels are
   * already known when the preferred one fails (its nodes may be the only contacts we had).
   * A level shared by several chains is queried once per round; a node that fails to answer is
   * skipped for the rest of the round.
   */
  private async discover(chains: readonly (readonly ScopeLevel[])[]): Promise<void> {
    const discovery = this.state.config?.discovery;
    if (!discovery) return;
    const now = Date.now();
    this.state.lastDiscoveryAt = now;
    this.state.counters.rounds++;
    const seeds = discovery.seeds.map((s) => new URL(s).origin);
    const rules = {
      scheme: discovery.scheme,
      port:
        discovery.port ??
        Number(new URL(discovery.seeds[0] as string).port || defaultPort(discovery.scheme)),
    };
    const failed = new Set<string>();
    const asked = new Set<string>();
    const rejoined = new Set<string>();
    let moved = false;
    for (const level of chains.flat()) {
      const key = scopeKey(level);
      if (asked.has(key)) continue;
      asked.add(key);
      const known = this.knownDiscovered();
      const healthy = shuffled(
        known.filter((o) => this.state.probes[hostOf(o)]?.healthy !== false),
      );
      const rest = shuffled(known.filter((o) => !healthy.includes(o)));
      const candidates = [...[...healthy, ...rest].slice(0, KNOWN_CANDIDATES), ...shuffled(seeds)];
      const urls = await queryLevel(
        { level, candidates, failed, path: discovery.path, timeoutMs: discovery.timeoutMs, rules },
        this.state.counters,
      );
      if (urls === undefined) continue;
      const before = new Set(this.knownDiscovered());
      for (const url of urls) if (!before.has(url) && this.wasSeen(url)) rejoined.add(hostOf(url));
      moved = this.storeLevel(key, urls, now) || moved;
    }
    for (const id of rejoined) {
      this.state.firstSeen[id] = now;
      await this.readmit(id);
    }
    if (moved) this.changed();
  }

  private wasSeen(url: string): boolean {
    return (this.state.firstSeen[hostOf(url)] ?? -1) >= 0;
  }

  /**
   * A node that left the lists and came back was restarted or repaired: an ejection earned before
   * it left says nothing about it now. Lifting it (as Envoy does on a passing health check) lets
   * traffic, ramped by slow start, return at once instead of after the ejection runs out.
   */
  private async readmit(nodeId: string): Promise<void> {
    const service = this.state.config?.service;
    if (!service) return;
    try {
      await this.env.ROTATION.get(this.env.ROTATION.idFromName(service)).readmit(nodeId);
      for (const gate of gateNamesOf(service, nodeId)) {
        await this.env.NODE_GATE.get(this.env.NODE_GATE.idFromName(gate)).readmit(nodeId);
      }
      await recordRouteChange(this.env, this.state.config?.gatewayId, service, nodeId, {
        kind: "readmit",
      });
    } catch (error) {
      console.warn(`live nodes ${service}: could not readmit ${nodeId}: ${String(error)}`);
    }
  }

  private storeLevel(key: string, urls: string[], now: number): boolean {
    const before = this.state.discovered[key]?.urls;
    const joined = this.knownDiscovered().length === 0 ? 0 : now;
    this.state.discovered[key] = { urls, at: now };
    for (const url of urls) this.state.firstSeen[hostOf(url)] ??= joined;
    return before === undefined || before.join() !== urls.join();
  }

  private knownDiscovered(): string[] {
    return [...new Set(Object.values(this.state.discovered).flatMap((d) => d.urls))];
  }

  private async checkHealth(health: NonNullable<ServiceConfig["health"]>): Promise<void> {
    const now = Date.now();
    this.state.lastHealthAt = now;
    const targets = new Map<string, string>();
    for (const node of this.allNodes()) targets.set(node.id, node.url);
    let flipped = false;
    const passing = new Set<string>();
    await eachLimited([...targets], CONNECTIONS, async ([id, url]) => {
      const passed = await probe(joinPath(url, health.path), health.timeoutMs);
      const before = this.state.probes[id] ?? unprobed(now);
      const after = recordProbe(before, passed, health, Date.now());
      this.state.probes[id] = after;
      if (after.healthy !== before.healthy) flipped = true;
      if (passed && after.healthy) passing.add(id);
    });
    for (const id of Object.keys(this.state.probes))
      if (!targets.has(id)) delete this.state.probes[id];
    if (flipped) this.changed();
    await this.unejectPassing(passing);
  }

  /**
   * An ejected node whose active check passes is readmitted at once (Envoy's default): a node that
   * fails some requests but answers its checks, such as one that flaps, would otherwise sit out a
   * whole ejection with capacity lost; retries cover the requests it still fails.
   */
  private async unejectPassing(passing: ReadonlySet<string>): Promise<void> {
    const service = this.state.config?.service;
    if (!service || passing.size === 0) return;
    try {
      const ejected = await this.env.ROTATION.get(
        this.env.ROTATION.idFromName(service),
      ).ejectedNodes();
      for (const { nodeId } of ejected) if (passing.has(nodeId)) await this.readmit(nodeId);
    } catch (error) {
      console.warn(`live nodes ${service}: could not check ejections: ${String(error)}`);
    }
  }

  /** Configured, registered and every discovered node, once each. */
  private allNodes(): DeclaredNode[] {
    const declared = [...(this.state.config?.nodes ?? []), ...this.state.registered];
    const byUrl = new Set(declared.map((n) => n.url));
    const discovered = this.knownDiscovered()
      .filter((url) => !byUrl.has(url))
      .map((url) => ({ id: hostOf(url), url, weight: 1 }));
    return [...declared, ...discovered];
  }

  private levels(chain: readonly ScopeLevel[]): MembershipLevel[] {
    const declared = [...(this.state.config?.nodes ?? []), ...this.state.registered];
    return chain.map((level) => {
      const nodes = new Map<string, MemberNode>();
      for (const node of declared) if (inScope(node, level)) nodes.set(node.url, this.member(node));
      for (const url of this.state.discovered[scopeKey(level)]?.urls ?? []) {
        if (nodes.has(url)) continue;
        const labels =
          level.kind === "rack"
            ? { dc: level.dc, rack: level.rack }
            : level.kind === "dc"
              ? { dc: level.dc }
              : {};
        nodes.set(url, this.member({ id: hostOf(url), url, weight: 1, ...labels }));
      }
      return { scope: level, nodes: [...nodes.values()] };
    });
  }

  private member(node: DeclaredNode): MemberNode {
    const probe = this.state.probes[node.id];
    const firstSeen = this.state.firstSeen[node.id] ?? 0;
    return {
      ...node,
      healthy: probe?.healthy ?? true,
      since: Math.max(firstSeen, probe?.healthy ? probe.since : 0),
    };
  }
}

function hostOf(url: string): string {
  return new URL(url).host;
}

function defaultPort(scheme: string): number {
  return scheme === "https" ? 443 : 80;
}

function joinPath(url: string, path: string): string {
  return url.endsWith("/") ? url + path.slice(1) : url + path;
}
