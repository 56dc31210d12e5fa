import {
  declaredLevels,
  type MemberNode,
  type MembershipLevel,
  type Selection,
  selectNodes,
  selectUntried,
} from "../balancer/membership.ts";
import { buildSchedule } from "../balancer/rotation.ts";
import { chainKey, inScope, type ScopeLevel } from "../balancer/scope.ts";
import { slowStartShare } from "../balancer/slow-start.ts";
import type { ResolvedService } from "../config/load.ts";
import type { LiveNodesConfig, ViewResponse } from "../durable/live-nodes/contract.ts";
import type { Log } from "../logging/log.ts";
import type { Counters } from "./counters.ts";

/** Scope chains one isolate keeps a membership of, at most. */
const MAX_VIEWS = 64;

/** The rotation round a dispatch walks, and how it was chosen. */
export interface Route {
  readonly schedule: readonly string[];
  readonly selection: Selection;
}

interface CachedView {
  version: number;
  levels: readonly MembershipLevel[];
  fetchedAt: number;
  pending?: Promise<void>;
  route?: Route & { epoch: number; validUntil: number };
}

/** How the cache asks the service's live-node object for a chain's membership. */
export type ViewCall = (
  config: LiveNodesConfig,
  chain: readonly ScopeLevel[],
  knownVersion: number,
) => Promise<ViewResponse>;

/** How long a node no cached view lists any more is still remembered (a dispatch may hold it). */
export const KNOWN_RETENTION_MS = 60_000;

/**
 * One isolate's view of a service's membership: the levels of each scope chain it has routed in
 * (cached by version, refreshed at most once per active interval), the nodes it has seen, and the
 * ejections it has heard of, passive or as latency outliers. It turns them into the rotation
 * round a dispatch walks, cached until an ejection starts or ends.
 */
export class MembershipCache {
  readonly #service: ResolvedService;
  readonly #counters: Counters;
  readonly #log: Log;
  readonly #liveConfig: LiveNodesConfig;
  // Until when a node is out as a latency outlier; the latency tracker decides that.
  readonly #slowUntil: (nodeId: string) => number;
  readonly #slowEnds: () => Iterable<number>;
  readonly #views = new Map<string, CachedView>();
  // Every node listed lately, with when it last was: a dispatch may still hold one a fresh view
  // dropped, so nodes are forgotten only once unlisted for KNOWN_RETENTION_MS.
  readonly #known = new Map<string, { node: MemberNode; listedAt: number }>();
  // Nodes the cached views list now: the total the share cap on ejections is taken of.
  #listed = 0;
  readonly #places = new Set<string>();
  readonly #ejected = new Map<string, number>();
  // When each node last came back from an ejection, for slow start.
  readonly #ejectionEnds = new Map<string, number>();
  #epoch = 0;

  constructor(
    service: ResolvedService,
    liveConfig: LiveNodesConfig,
    slow: { until: (nodeId: string) => number; ends: () => Iterable<number> },
    counters: Counters,
    log: Log,
  ) {
    this.#log = log;
    this.#service = service;
    this.#counters = counters;
    this.#liveConfig = liveConfig;
    this.#slowUntil = slow.until;
    this.#slowEnds = slow.ends;
    this.#relearn(0);
  }

  /**
   * Rebuilds what the isolate knows from the configured nodes and every cached view: each listed
   * node (and the datacenter and rack it is in) marked as listed at `now`, nodes unlisted for
   * longer than KNOWN_RETENTION_MS forgotten with their ejection records, so churning membership
   * cannot grow any per-node map here.
   */
  #relearn(now: number): void {
    const listed = new Map<string, MemberNode>();
    for (const level of declaredLevels(this.#service.nodes, [{ kind: "cluster" }], inScope)) {
      for (const node of level.nodes) listed.set(node.id, node);
    }
    for (const view of this.#views.values()) {
      for (const level of view.levels) for (const node of level.nodes) listed.set(node.id, node);
    }
    for (const [id, node] of listed) this.#known.set(id, { node, listedAt: now });
    this.#listed = listed.size;
    this.#places.clear();
    for (const [id, { node, listedAt }] of this.#known) {
      if (!listed.has(id) && now - listedAt > KNOWN_RETENTION_MS) {
        this.#known.delete(id);
        this.#ejected.delete(id);
        this.#ejectionEnds.delete(id);
        continue;
      }
      if (node.dc !== undefined) this.#places.add(node.dc);
      if (node.dc !== undefined && node.rack !== undefined) {
        this.#places.add(`${node.dc}/${node.rack}`);
      }
    }
  }

  /**
   * Whether a datacenter (or a rack within it) is one this isolate has seen a node in: scope
   * names from a request header are honoured only if so, so rotating made-up names creates no
   * state anywhere.
   */
  knowsPlace(dc: string, rack?: string): boolean {
    return this.#places.has(rack === undefined ? dc : `${dc}/${rack}`);
  }

  /** How long a cached membership is trusted before the live-node object is asked again. */
  get refreshMs(): number {
    return this.#service.discovery?.activeIntervalMs ?? 1_000;
  }

  /** A node by id, from any membership this isolate has seen lately. */
  node(id: string): MemberNode | undefined {
    return this.#known.get(id)?.node;
  }

  /** Nodes the memberships this isolate holds list now, for the share cap on ejections. */
  get listedCount(): number {
    return this.#listed;
  }

  /** Nodes this isolate remembers, listed now or lately (bounded by KNOWN_RETENTION_MS). */
  get rememberedCount(): number {
    return this.#known.size;
  }

  /** Makes sure the chain's membership is at most one refresh interval old. */
  async refresh(view: ViewCall, chain: readonly ScopeLevel[], now: number): Promise<void> {
    const key = chainKey(chain);
    let cached = this.#views.get(key);
    if (cached && now - cached.fetchedAt < this.refreshMs) return;
    if (!cached) {
      cached = {
        version: 0,
        levels: declaredLevels(this.#service.nodes, chain, inScope),
        fetchedAt: 0,
      };
      // Chains come from request headers too: keep the most recent few, never an unbounded map.
      if (this.#views.size >= MAX_VIEWS)
        this.#views.delete(this.#views.keys().next().value as string);
      this.#views.set(key, cached);
    }
    const entry = cached;
    entry.pending ??= this.#fetch(view, chain, entry, now).finally(() => {
      entry.pending = undefined;
    });
    // A first look must wait for the answer; later ones route on the cached copy meanwhile.
    if (entry.version === 0) await entry.pending;
  }

  /** The chain's levels as the last refresh left them: the configured nodes before any. */
  levels(chain: readonly ScopeLevel[]): readonly MembershipLevel[] {
    return this.#views.get(chainKey(chain))?.levels ?? [];
  }

  /**
   * Drops cached memberships so the next dispatch asks the live-node object again and waits for
   * its answer: called after this isolate changed the membership itself (an admin call), whose
   * caller expects the next request to route by the change.
   */
  forget(): void {
    for (const view of this.#views.values()) {
      view.fetchedAt = 0;
      view.version = 0;
    }
  }

  /**
   * The rotation round of the chain at `now`: the nodes of the nearest level that can serve, or,
   * for a retry, of the level `selectUntried` moves on to once that one is spent.
   */
  route(chain: readonly ScopeLevel[], now: number, tried?: ReadonlySet<string>): Route {
    const view = this.#views.get(chainKey(chain));
    if (!view) return { schedule: [], selection: { scope: undefined, nodes: [], panic: false } };
    const route = this.#nearest(view, now);
    if (!tried || tried.size === 0) return route;
    const perLevel = this.#service.retry.attemptsPerScope;
    const triedHere = route.selection.nodes.filter((node) => tried.has(node.id)).length;
    if (triedHere < perLevel && route.schedule.some((id) => !tried.has(id))) return route;
    const ejected = (id: string) => this.isEjected(id, now);
    const { panicThreshold } = this.#service;
    const selection = selectUntried(view.levels, ejected, panicThreshold, tried, perLevel);
    return { schedule: buildSchedule(selection.nodes), selection };
  }

  #nearest(view: CachedView, now: number): Route {
    const cached = view.route;
    if (cached && cached.epoch === this.#epoch && now < cached.validUntil) return cached;
    const selection = selectNodes(
      view.levels,
      (id) => this.isEjected(id, now),
      this.#service.panicThreshold,
    );
    view.route = {
      schedule: buildSchedule(selection.nodes),
      selection,
      epoch: this.#epoch,
      validUntil: this.#soonestEjectionEnd(now),
    };
    return view.route;
  }

  /** Whether a node in slow start takes this first pick: its share of a full node's traffic. */
  admits(id: string, now: number, random: () => number): boolean {
    const node = this.#known.get(id)?.node;
    if (!node || this.#service.slowStartMs === 0) return true;
    const since = Math.max(node.since, this.#ejectionEnds.get(id) ?? 0);
    return random() < slowStartShare(since, now, this.#service.slowStartMs);
  }

  /**
   * Takes the coordinator's ledger as the truth: it has every ejection the gates were granted and
   * none it has since lifted (a readmitted node), so entries missing from it are dropped here too.
   */
  adoptEjections(ledger: readonly { nodeId: string; until: number }[], now: number): void {
    const current = new Map(ledger.map((e) => [e.nodeId, e.until]));
    for (const [id, until] of this.#ejected) {
      if (!current.has(id)) {
        this.#ejected.delete(id);
        // Lifted early (readmitted): slow start runs from now, not from the end it would have had.
        if (until > now) this.#ejectionEnds.set(id, now);
        this.#epoch++;
      }
    }
    for (const [id, until] of current) this.markEjected(id, until);
  }

  /** Remembers that a node is out until `until`. */
  markEjected(nodeId: string, until: number): void {
    if ((this.#ejected.get(nodeId) ?? 0) >= until) return;
    this.#ejected.set(nodeId, until);
    this.#ejectionEnds.set(nodeId, until);
    this.#epoch++;
  }

  /** A latency outlier was taken out until `until`: the rotation changes, slow start follows. */
  markSlow(nodeId: string, until: number): void {
    this.#ejectionEnds.set(nodeId, until);
    this.#epoch++;
  }

  /** Whether the node is ejected (passively, or as a latency outlier) as far as this isolate knows. */
  isEjected(nodeId: string, now: number): boolean {
    return (this.#ejected.get(nodeId) ?? 0) > now || this.#slowUntil(nodeId) > now;
  }

  #soonestEjectionEnd(now: number): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const until of [...this.#ejected.values(), ...this.#slowEnds()]) {
      if (until > now) soonest = Math.min(soonest, until);
    }
    return soonest;
  }

  async #fetch(
    view: ViewCall,
    chain: readonly ScopeLevel[],
    entry: CachedView,
    now: number,
  ): Promise<void> {
    this.#counters.liveNodeCalls++;
    try {
      const answer = await view(this.#liveConfig, chain, entry.version);
      entry.fetchedAt = now;
      if (answer.levels) {
        entry.levels = answer.levels;
        entry.route = undefined;
        this.#relearn(now);
      }
      entry.version = answer.version;
    } catch (error) {
      // Keep routing on what we have (the configured nodes, at worst) and ask again next time.
      this.#counters.liveNodeFailures++;
      this.#log.fault("warn", {
        event: "membership-failure",
        service: this.#service.name,
        reason: `live nodes unavailable: ${String(error)}`,
      });
      entry.fetchedAt = now;
    }
  }
}
