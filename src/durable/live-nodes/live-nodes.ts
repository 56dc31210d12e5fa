import { DurableObject } from "cloudflare:workers";
import { nodeUrlKey } from "../../balancer/address-policy.ts";
import { chainKey, type ScopeLevel } from "../../balancer/scope.ts";
import { unlistedToForget } from "../../balancer/unlisted.ts";
import { logOf } from "../../logging/log-of.ts";
import { SerialRuns } from "../serial-runs.ts";
import { recordRouteChange } from "../sync/record.ts";
import type {
  DeclaredNode,
  DrainSource,
  LiveNodesConfig,
  LiveNodesReport,
  NodeSetting,
  RemoveResult,
  SettingPatch,
  SyncedNodeChange,
  ViewRequest,
  ViewResponse,
} from "./contract.ts";
import { LiveMembership } from "./membership.ts";
import { checkHealth, discover, type RefreshContext } from "./refresh.ts";
import { type LiveState, withDefaults } from "./state.ts";

const STATE_KEY = "state";
const MAX_CHAINS = 16;
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
  #state: LiveState;
  readonly #membership = new LiveMembership(() => this.#state);
  readonly #runs = new SerialRuns();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#state = withDefaults(ctx.storage.kv.get<LiveState>(STATE_KEY));
  }

  /** The chain's levels, discovering them first if this chain has never been asked for. */
  async view(request: ViewRequest): Promise<ViewResponse> {
    const now = Date.now();
    this.#adopt(request.config);
    const key = chainKey(request.chain);
    const fresh = !this.#state.chains[key];
    this.#state.chains[key] = { chain: [...request.chain], usedAt: now };
    this.#trimChains();
    const wasIdle = now - this.#state.lastTrafficAt >= this.#idleInterval();
    this.#state.lastTrafficAt = now;
    if (fresh && this.#state.config?.discovery) await discover(this.#refresh(), [request.chain]);
    await this.#wake(wasIdle);
    this.#save();
    const version = this.#state.version;
    return version === request.knownVersion
      ? { version }
      : { version, levels: this.#membership.levels(request.chain) };
  }

  /**
   * The chain's levels as this object knows them, for a public read: it adopts nothing, records no
   * traffic, discovers nothing and writes nothing, so an anonymous caller cannot change the state
   * routing depends on. Levels follow the caller's configuration even before it is adopted; the
   * adoption moves the version, so an isolate that cached this answer asks again.
   */
  peek(request: ViewRequest): ViewResponse {
    const version = this.#state.version;
    const adopted = JSON.stringify(request.config) === this.#state.configJson;
    if (adopted && version === request.knownVersion) return { version };
    const unadopted = { ...this.#state, config: request.config };
    const membership = adopted ? this.#membership : new LiveMembership(() => unadopted);
    return { version, levels: membership.levels(request.chain) };
  }

  /**
   * Adds a node and records it for the peers, or neither: false when its id is taken, or its URL
   * (normalized) is already a node of the service under any id; throws, with nothing changed, when
   * the change could not be recorded for the peers.
   */
  async register(config: LiveNodesConfig, node: DeclaredNode): Promise<boolean> {
    this.#adopt(config);
    const key = nodeUrlKey(node.url);
    const taken = () =>
      this.#membership.allNodes().some((n) => n.id === node.id || nodeUrlKey(n.url) === key);
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
   * An operator's drain or weight for a node of any source, recorded for the peers before it is
   * kept (as a registration is): undefined when the node is unknown, else its setting now.
   */
  async operate(
    config: LiveNodesConfig,
    nodeId: string,
    patch: SettingPatch,
  ): Promise<NodeSetting | undefined> {
    this.#adopt(config);
    const known = () => this.#membership.allNodes().some((n) => n.id === nodeId);
    if (!known()) return undefined;
    const record = (change: Parameters<typeof recordRouteChange>[4]) =>
      recordRouteChange(this.env, config.gatewayId, config.service, nodeId, change);
    if (patch.draining !== undefined) await record({ kind: "drain", draining: patch.draining });
    if (patch.weight !== undefined) await record({ kind: "weigh", weight: patch.weight });
    const current = this.#setting(nodeId);
    this.#setSetting(nodeId, { ...current, ...patch }, "operator");
    return this.#setting(nodeId);
  }

  /**
   * Applies a registration made or withdrawn on a peer gateway, or an operator's setting made
   * there, without adopting a configuration (the caller has none to give). A configured node's id
   * is the configuration's: never replaced. True when membership changed.
   */
  applySynced(change: SyncedNodeChange): boolean {
    if (change.kind === "operate") return this.#setSetting(change.nodeId, change.setting, "peer");
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

  /**
   * Everything known, with the levels of `chain`, for the services API; not counted as traffic.
   * Adopting the caller's configuration is the only write, and only when it is new.
   */
  async report(config: LiveNodesConfig, chain: readonly ScopeLevel[]): Promise<LiveNodesReport> {
    this.#adopt(config);
    return {
      levels: this.#membership.levels(chain),
      version: this.#state.version,
      registered: this.#state.registered,
      discovered: this.#state.discovered,
      probes: this.#state.probes,
      settings: this.#state.settings,
      healthTally: this.#state.healthTally,
      pace: Date.now() - this.#state.lastTrafficAt < this.#idleInterval() ? "active" : "idle",
      lastTrafficAt: this.#state.lastTrafficAt,
      nextAlarmAt: await this.ctx.storage.getAlarm(),
      discovery: this.#state.counters,
    };
  }

  /**
   * Runs the refresh the alarm was set for, and any other that is due by then, then sets the next
   * wake-up. An alarm that runs early (a retried one, or one a test drives) still does the
   * refresh that was next, and never overlaps another run.
   */
  override async alarm(): Promise<void> {
    await this.#runs.run(() => this.#refreshDue());
  }

  async #refreshDue(): Promise<void> {
    const config = this.#state.config;
    if (!config) return;
    const now = Date.now();
    const discoveryAt = config.discovery
      ? this.#state.lastDiscoveryAt + this.#discoveryInterval(now)
      : Number.POSITIVE_INFINITY;
    const healthAt = config.health
      ? this.#state.lastHealthAt + config.health.intervalMs
      : Number.POSITIVE_INFINITY;
    // A few ms of slack, so two refreshes due within the same moment share one wake-up.
    const until = Math.max(now, Math.min(discoveryAt, healthAt)) + 5;
    try {
      if (discoveryAt <= until) {
        await discover(
          this.#refresh(),
          Object.values(this.#state.chains).map((c) => c.chain),
        );
      }
      if (config.health && healthAt <= until) await checkHealth(this.#refresh(), config.health);
    } catch (error) {
      // A failed round keeps the last good state; the next alarm tries again.
      logOf(this.env).fault("error", {
        event: "refresh-failure",
        service: config.service,
        reason: String(error),
      });
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

  #setting(nodeId: string): NodeSetting {
    const kept = this.#state.settings[nodeId];
    return kept
      ? { draining: kept.draining, weight: kept.weight }
      : { draining: false, weight: null };
  }

  /**
   * Keeps a setting; true when it changed. A node that stops draining starts slow again. A drain
   * keeps who made it: an operator's drain here stands over a peer's, never the other way round.
   */
  #setSetting(nodeId: string, setting: NodeSetting, by: DrainSource): boolean {
    const kept = this.#state.settings[nodeId];
    const current = this.#setting(nodeId);
    const wasBy = kept?.draining ? (kept.drainedBy ?? "operator") : undefined;
    const drainedBy = setting.draining ? (wasBy === "operator" ? "operator" : by) : undefined;
    if (
      current.draining === setting.draining &&
      current.weight === setting.weight &&
      wasBy === drainedBy
    ) {
      return false;
    }
    const service = this.#state.config?.service;
    const log = logOf(this.env);
    const who = by === "operator" ? "an operator" : "a peer";
    if (current.draining !== setting.draining) {
      const reason = `${setting.draining ? "drained" : "returned"} by ${who}`;
      log.change({ event: "drain", service, node: nodeId, reason, draining: setting.draining });
    }
    if (current.weight !== setting.weight) {
      log.change({
        event: "weight",
        service,
        node: nodeId,
        reason: `set by ${who}`,
        weight: setting.weight,
      });
    }
    if (current.draining && !setting.draining) this.#state.firstSeen[nodeId] = Date.now();
    const plain = !setting.draining && setting.weight === null;
    if (plain) delete this.#state.settings[nodeId];
    else {
      this.#state.settings[nodeId] = {
        draining: setting.draining,
        weight: setting.weight,
        ...(drainedBy ? { drainedBy } : {}),
      };
    }
    this.#changed();
    return true;
  }

  #refresh(): RefreshContext {
    return {
      env: this.env,
      state: this.#state,
      membership: this.#membership,
      changed: () => this.#changed(),
    };
  }

  #changed(): void {
    this.#state.version++;
    this.#save();
  }

  #save(): void {
    this.#prune();
    this.ctx.storage.kv.put(STATE_KEY, this.#state);
  }

  /**
   * Forgets the per-node records of nodes listed nowhere any more (configured, registered or
   * discovered and not yet stale), by the retention of `unlistedToForget`, so a discovery
   * answerer churning node names cannot grow the state. Operators' settings stay.
   */
  #prune(): void {
    const { firstSeen, healthTally, unlistedAt } = this.#state;
    const listed = new Set(this.#membership.allNodes().map((node) => node.id));
    const recorded = [...Object.keys(firstSeen), ...Object.keys(healthTally)];
    for (const id of unlistedToForget(unlistedAt, listed, recorded, Date.now())) {
      delete firstSeen[id];
      delete healthTally[id];
    }
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
}
