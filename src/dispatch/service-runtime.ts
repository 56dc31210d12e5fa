import { ejectionAllowance } from "../balancer/ejection.ts";
import { type LatencyStats, latencyOutliers, recordLatency } from "../balancer/latency-outlier.ts";
import {
  declaredLevels,
  type MemberNode,
  type MembershipLevel,
  type Selection,
  selectNodes,
} from "../balancer/membership.ts";
import { buildSchedule, LeasedPositions } from "../balancer/rotation.ts";
import { inScope, type ScopeLevel, scopeKey } from "../balancer/scope.ts";
import { slowStartShare } from "../balancer/slow-start.ts";
import type { ResolvedService } from "../config/load.ts";
import type { LiveNodesConfig, ViewResponse } from "../durable/live-nodes.ts";
import type { LeaseGrant } from "../durable/rotation-coordinator.ts";
import { counters } from "./counters.ts";
import { LeaseClient } from "./lease-client.ts";

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

/** How isolates reach a service's Durable Objects; injected so tests can fail them. */
export interface ServiceObjects {
  lease(size: number): Promise<LeaseGrant>;
  view(
    config: LiveNodesConfig,
    chain: readonly ScopeLevel[],
    knownVersion: number,
  ): Promise<ViewResponse>;
}

/**
 * What one isolate keeps about one service between requests: leased rotation positions, the
 * membership of each scope chain it has routed in (cached by version, refreshed at most once per
 * active interval), and the ejections it has heard of. This is what keeps the coordinator and the
 * live-node object off the per-request path.
 */
export class ServiceRuntime {
  readonly service: ResolvedService;
  /** The part of the service's configuration the live-node object works from. */
  readonly liveConfig: LiveNodesConfig;
  /** This isolate's leases of the nodes' handshake slots. */
  readonly leases: LeaseClient;
  private readonly positions = new LeasedPositions();
  private pendingLease: Promise<void> | undefined;
  private readonly ejected = new Map<string, number>();
  private ejectionEpoch = 0;
  private readonly views = new Map<string, CachedView>();
  private readonly known = new Map<string, MemberNode>();
  private readonly inFlight = new Map<string, number>();
  private readonly latency = new Map<string, LatencyStats>();
  // Latency outliers this isolate took out; kept apart from the coordinator's ledger, which
  // replaces the passive ejections on every lease.
  private readonly slowUntil = new Map<string, number>();

  constructor(service: ResolvedService) {
    this.service = service;
    this.leases = new LeaseClient(service);
    this.liveConfig = {
      service: service.name,
      nodes: service.nodes.map(({ id, url, dc, rack, weight, locationHint }) => ({
        id,
        url,
        dc,
        rack,
        weight,
        locationHint,
      })),
      discovery: service.discovery,
      health: service.health,
      ...(service.gatewayId === undefined ? {} : { gatewayId: service.gatewayId }),
    };
    for (const level of declaredLevels(service.nodes, [{ kind: "cluster" }], inScope)) {
      for (const node of level.nodes) this.known.set(node.id, node);
    }
  }

  /** How long a cached membership is trusted before the live-node object is asked again. */
  get refreshMs(): number {
    return this.service.discovery?.activeIntervalMs ?? 1_000;
  }

  /** The next rotation position, leasing a new block from the coordinator when this one is spent. */
  async nextPosition(objects: ServiceObjects): Promise<number> {
    for (;;) {
      const position = this.positions.take();
      if (position !== undefined) return position;
      // One lease call serves every dispatch of a burst that found the block empty.
      this.pendingLease ??= this.refill(objects).finally(() => {
        this.pendingLease = undefined;
      });
      await this.pendingLease;
    }
  }

  /** Makes sure the chain's membership is at most one refresh interval old. */
  async refresh(objects: ServiceObjects, chain: readonly ScopeLevel[], now: number): Promise<void> {
    const key = chainKey(chain);
    let view = this.views.get(key);
    if (view && now - view.fetchedAt < this.refreshMs) return;
    if (!view) {
      view = {
        version: 0,
        levels: declaredLevels(this.service.nodes, chain, inScope),
        fetchedAt: 0,
      };
      this.views.set(key, view);
    }
    const cached = view;
    cached.pending ??= this.fetchView(objects, chain, cached, now).finally(() => {
      cached.pending = undefined;
    });
    // A first look must wait for the answer; later ones route on the cached copy meanwhile.
    if (cached.version === 0) await cached.pending;
  }

  /** Drops cached memberships so the next dispatch asks the live-node object again. */
  forgetMembership(): void {
    for (const view of this.views.values()) view.fetchedAt = 0;
  }

  /** The rotation round of the chain at `now`: the nodes of the nearest level that can serve. */
  route(chain: readonly ScopeLevel[], now: number): Route {
    const view = this.views.get(chainKey(chain));
    if (!view) return { schedule: [], selection: { scope: undefined, nodes: [], panic: false } };
    const cached = view.route;
    if (cached && cached.epoch === this.ejectionEpoch && now < cached.validUntil) return cached;
    const selection = selectNodes(
      view.levels,
      (id) => this.isEjected(id, now),
      this.service.panicThreshold,
    );
    const validUntil = this.soonestEjectionEnd(now);
    view.route = {
      schedule: buildSchedule(selection.nodes),
      selection,
      epoch: this.ejectionEpoch,
      validUntil,
    };
    return view.route;
  }

  /** A node by id, from any membership this isolate has seen. */
  node(id: string): MemberNode | undefined {
    return this.known.get(id);
  }

  /** Nodes this isolate knows of, for the share cap on ejections. */
  get knownCount(): number {
    return this.known.size;
  }

  /** Whether a node in slow start takes this first pick: its share of a full node's traffic. */
  admits(id: string, now: number, random: () => number): boolean {
    const node = this.known.get(id);
    if (!node || this.service.slowStartMs === 0) return true;
    const since = Math.max(node.since, this.ejectionEnds.get(id) ?? 0);
    return random() < slowStartShare(since, now, this.service.slowStartMs);
  }

  /**
   * Takes the coordinator's ledger as the truth: it has every ejection the gates were granted and
   * none it has since lifted (a readmitted node), so entries missing from it are dropped here too.
   */
  private adoptEjections(ledger: readonly { nodeId: string; until: number }[]): void {
    const current = new Map(ledger.map((e) => [e.nodeId, e.until]));
    const now = Date.now();
    for (const [id, until] of this.ejected) {
      if (!current.has(id)) {
        this.ejected.delete(id);
        // Lifted early (readmitted): slow start runs from now, not from the end it would have had.
        if (until > now) this.ejectionEnds.set(id, now);
        this.ejectionEpoch++;
      }
    }
    for (const [id, until] of current) this.markEjected(id, until);
  }

  /** Remembers that a node is out until `until`. */
  markEjected(nodeId: string, until: number): void {
    if ((this.ejected.get(nodeId) ?? 0) >= until) return;
    this.ejected.set(nodeId, until);
    this.ejectionEnds.set(nodeId, until);
    this.ejectionEpoch++;
  }

  /** Whether the node is ejected (passively, or as a latency outlier) as far as this isolate knows. */
  isEjected(nodeId: string, now: number): boolean {
    return (this.ejected.get(nodeId) ?? 0) > now || (this.slowUntil.get(nodeId) ?? 0) > now;
  }

  /** Requests this isolate has sent to the node whose response headers have not arrived. */
  outstanding(nodeId: string): number {
    return this.inFlight.get(nodeId) ?? 0;
  }

  /** Counts a handshake starting; call the returned function when it ends, with its latency. */
  begin(nodeId: string): (latencyMs: number | undefined, now: number) => void {
    this.inFlight.set(nodeId, this.outstanding(nodeId) + 1);
    return (latencyMs, now) => {
      this.inFlight.set(nodeId, Math.max(0, this.outstanding(nodeId) - 1));
      const policy = this.service.latencyEjection;
      if (!policy || latencyMs === undefined) return;
      this.latency.set(nodeId, recordLatency(this.latency.get(nodeId), latencyMs));
      const out = [...this.slowUntil.values()].filter((until) => until > now).length;
      const allowance =
        ejectionAllowance(this.known.size, this.service.ejection.maxEjectedShare) - out;
      for (const id of latencyOutliers(this.latency, policy, allowance)) {
        if (this.isEjected(id, now)) continue;
        this.slowUntil.set(id, now + policy.ejectMs);
        // Judge it afresh when it comes back, not by the average that got it ejected.
        this.latency.delete(id);
        this.ejectionEnds.set(id, now + policy.ejectMs);
        this.ejectionEpoch++;
      }
    };
  }

  // When each node last came back from an ejection, for slow start.
  private readonly ejectionEnds = new Map<string, number>();

  private soonestEjectionEnd(now: number): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const until of [...this.ejected.values(), ...this.slowUntil.values()]) {
      if (until > now) soonest = Math.min(soonest, until);
    }
    return soonest;
  }

  private async fetchView(
    objects: ServiceObjects,
    chain: readonly ScopeLevel[],
    view: CachedView,
    now: number,
  ): Promise<void> {
    counters.liveNodeCalls++;
    try {
      const answer = await objects.view(this.liveConfig, chain, view.version);
      view.fetchedAt = now;
      if (answer.levels) {
        view.levels = answer.levels;
        view.route = undefined;
        for (const level of answer.levels)
          for (const node of level.nodes) this.known.set(node.id, node);
      }
      view.version = answer.version;
    } catch (error) {
      // Keep routing on what we have (the configured nodes, at worst) and ask again next time.
      counters.liveNodeFailures++;
      console.warn(`live nodes of ${this.service.name} unavailable: ${String(error)}`);
      view.fetchedAt = now;
    }
  }

  private async refill(objects: ServiceObjects): Promise<void> {
    counters.coordinatorCalls++;
    const size = this.service.rotation.leaseSize;
    try {
      const grant = await objects.lease(size);
      this.positions.refill(grant);
      this.adoptEjections(grant.ejected);
    } catch (error) {
      // Without its coordinator the isolate keeps serving: a block at a random offset still
      // rotates strictly within the isolate and only loosens the global interleaving.
      counters.leaseFailures++;
      console.warn(`rotation lease for ${this.service.name} failed: ${String(error)}`);
      this.positions.refill({ start: Math.floor(Math.random() * 2 ** 40), size });
    }
  }
}

/** A stable name of a scope chain. */
export function chainKey(chain: readonly ScopeLevel[]): string {
  return chain.map(scopeKey).join(">");
}

const runtimes = new WeakMap<ResolvedService, ServiceRuntime>();

/** The isolate's runtime for a service; a new configuration starts afresh. */
export function runtimeFor(service: ResolvedService): ServiceRuntime {
  let runtime = runtimes.get(service);
  if (!runtime) {
    runtime = new ServiceRuntime(service);
    runtimes.set(service, runtime);
  }
  return runtime;
}
