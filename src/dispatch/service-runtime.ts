import { RingCache } from "../balancer/consistent-hash.ts";
import { HandshakeWindow } from "../balancer/handshake-window.ts";
import { LatencyTracker } from "../balancer/latency-tracker.ts";
import type { MemberNode } from "../balancer/membership.ts";
import { RetryBudget } from "../balancer/retry-budget.ts";
import { LeasedPositions } from "../balancer/rotation.ts";
import type { PreferredScope, ScopeLevel } from "../balancer/scope.ts";
import type { ResolvedService } from "../config/load.ts";
import type { LeaseGrant } from "../durable/coordinator/rotation-coordinator.ts";
import type { LiveNodesConfig, ViewResponse } from "../durable/live-nodes/contract.ts";
import { Log } from "../logging/log.ts";
import { MetricsRecorder } from "../metrics/dispatch-metrics.ts";
import { newCounters } from "./counters.ts";
import { LeaseClient } from "./lease-client.ts";
import { MembershipCache, type Route, type ViewCall } from "./membership-cache.ts";
import { MetricsShipping } from "./metrics-shipping.ts";

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
 * How a public read reaches a service's objects: calls that change nothing the objects store, so
 * an anonymous caller cannot write the state routing depends on.
 */
export interface PublicReads {
  /** The live-node object's levels of a chain, without adopting, counting or saving anything. */
  peek: ViewCall;
  /** The coordinator's current ejections. */
  ejections(): Promise<readonly { nodeId: string; until: number }[]>;
}

/**
 * What one isolate keeps about one service between requests: leased rotation positions, leased
 * handshake slots of its nodes, its membership cache and its own latency figures. This is what
 * keeps the coordinator, the live-node object and the gates off the per-request path.
 */
export class ServiceRuntime {
  readonly service: ResolvedService;
  /** The part of the service's configuration the live-node object works from. */
  readonly liveConfig: LiveNodesConfig;
  /** This isolate's leases of the nodes' handshake slots. */
  readonly leases: LeaseClient;
  readonly membership: MembershipCache;
  readonly latency: LatencyTracker;
  /** This isolate's retry budget for the service (docs/policies.md says why per isolate). */
  readonly retryBudget: RetryBudget;
  /** This runtime's round trips to its objects, hedges and refused retries (`/_gw/stats`). */
  readonly counters = newCounters();
  /** What this isolate's dispatches observed, until shipped to the coordinator. */
  readonly metrics = new MetricsRecorder();
  readonly metricsShipping: MetricsShipping;
  /** Rings of the routable nodes, for `policy: "consistent_hash"`. */
  readonly rings: RingCache;
  /** Recent handshake times, for a hedge delay taken as their percentile. */
  readonly #handshakes = new HandshakeWindow();
  readonly #positions = new LeasedPositions();
  /** The log as the service's configuration sets it, for this isolate's lines about it. */
  readonly log: Log;
  readonly #namedDatacenters: ReadonlySet<string>;
  #pendingLease: Promise<void> | undefined;
  #ejectionsAt = Number.NEGATIVE_INFINITY;
  #pendingEjections: Promise<void> | undefined;

  constructor(service: ResolvedService) {
    this.service = service;
    this.log = new Log(service.logging);
    this.metricsShipping = new MetricsShipping(this.metrics, (reason) =>
      this.log.fault("warn", { event: "metrics-failure", service: service.name, reason }),
    );
    this.leases = new LeaseClient(service, this.counters, this.log);
    this.#namedDatacenters = new Set(namedDatacenters(service));
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
      discovery: service.discovery && {
        ...service.discovery,
        datacenters: namedDatacenters(service),
      },
      health: service.health,
      egress: service.egress,
      allow: service.allow,
      ...(service.gatewayId === undefined ? {} : { gatewayId: service.gatewayId }),
    };
    this.retryBudget = new RetryBudget(service.retry.budget || undefined);
    this.rings = new RingCache(service.hash.pointsPerWeight);
    this.latency = new LatencyTracker(service.latencyEjection, service.ejection.maxEjectedShare);
    this.membership = new MembershipCache(
      service,
      this.liveConfig,
      { until: (id) => this.latency.slowUntil(id), ends: () => this.latency.slowEnds() },
      this.counters,
      this.log,
    );
  }

  /** The next rotation position, leasing a new block from the coordinator when this one is spent. */
  async nextPosition(objects: ServiceObjects, random: () => number, now: () => number) {
    for (;;) {
      const position = this.#positions.take();
      if (position !== undefined) return position;
      // One lease call serves every dispatch of a burst that found the block empty.
      this.#pendingLease ??= this.#refill(objects, random, now).finally(() => {
        this.#pendingLease = undefined;
      });
      await this.#pendingLease;
    }
  }

  /** Makes sure the chain's membership is at most one refresh interval old. */
  refresh(objects: ServiceObjects, chain: readonly ScopeLevel[], now: number): Promise<void> {
    return this.membership.refresh(objects.view, chain, now);
  }

  /**
   * The routable nodes of one scope level, for an anonymous `/localnodes` read, from this isolate's
   * membership cache: at most one read-only call to each of the service's objects per refresh
   * interval, however many reads come. A datacenter or rack this isolate has not heard of answers
   * empty at once, so rotating made-up names neither calls an object nor evicts a cached chain.
   */
  async localNodes(reads: PublicReads, level: ScopeLevel, now: number): Promise<MemberNode[]> {
    if (!this.#knowsLevel(level)) return [];
    const chain = [level];
    await Promise.all([
      this.membership.refresh(reads.peek, chain, now),
      this.#refreshEjections(reads, now),
    ]);
    const nodes = this.membership.levels(chain)[0]?.nodes ?? [];
    return nodes.filter((n) => n.healthy && !this.membership.isEjected(n.id, now));
  }

  #knowsLevel(level: ScopeLevel): boolean {
    if (level.kind === "cluster") return true;
    const known = this.knownScope(level.kind === "rack" ? level : { dc: level.dc });
    return known !== undefined && (level.kind === "dc" || known.rack === level.rack);
  }

  /** Takes the coordinator's ejections at most once per refresh interval; the first read waits. */
  async #refreshEjections(reads: PublicReads, now: number): Promise<void> {
    const first = this.#ejectionsAt === Number.NEGATIVE_INFINITY;
    if (now - this.#ejectionsAt < this.membership.refreshMs) return;
    this.#pendingEjections ??= this.#fetchEjections(reads, now).finally(() => {
      this.#pendingEjections = undefined;
    });
    if (first) await this.#pendingEjections;
  }

  async #fetchEjections(reads: PublicReads, now: number): Promise<void> {
    this.counters.coordinatorCalls++;
    try {
      this.membership.adoptEjections(await reads.ejections(), now);
    } catch (error) {
      // Keep what this isolate knows of ejections and ask again next interval.
      this.log.fault("warn", {
        event: "membership-failure",
        service: this.service.name,
        reason: `ejections unavailable: ${String(error)}`,
      });
    }
    this.#ejectionsAt = now;
  }

  route(chain: readonly ScopeLevel[], now: number, tried?: ReadonlySet<string>): Route {
    return this.membership.route(chain, now, tried);
  }

  node(id: string): MemberNode | undefined {
    return this.membership.node(id);
  }

  /** Nodes the isolate's memberships list now: the total the ejection cap is a share of. */
  get listedCount(): number {
    return this.membership.listedCount;
  }

  /**
   * The part of a requested scope this service has heard of: a datacenter the configuration
   * names or a node is in, and a rack of it likewise. An unknown name is dropped, so the request
   * falls back along the configured chain, as Alternator's clients do with a bad scope, and
   * creates no state (no cached chain, no discovery round) of its own.
   */
  knownScope(requested: PreferredScope): PreferredScope | undefined {
    const { dc, rack } = requested;
    if (dc === undefined) return undefined;
    const named = this.#namedDatacenters.has(dc) || this.membership.knowsPlace(dc);
    if (!named) return undefined;
    const scope = this.service.scope;
    const rackKnown =
      rack !== undefined &&
      ((scope.dc === dc && scope.rack === rack) || this.membership.knowsPlace(dc, rack));
    return rackKnown ? { dc, rack } : { dc };
  }

  /**
   * How long an attempt may go without response headers before it is hedged: the configured
   * delay, or the configured percentile of recent handshakes once there are enough of them (never
   * below the delay). Undefined when the service does not hedge.
   */
  hedgeDelayMs(): number | undefined {
    const hedge = this.service.retry.hedge;
    if (!hedge) return undefined;
    if (hedge.percentile === undefined || this.#handshakes.size < hedge.minSamples) {
      return hedge.afterMs;
    }
    return Math.max(hedge.afterMs, this.#handshakes.percentile(hedge.percentile) ?? 0);
  }

  /** Counts a handshake starting; call the returned function when it ends, with its latency. */
  begin(nodeId: string): (latencyMs: number | undefined, now: number) => void {
    this.latency.begin(nodeId);
    return (latencyMs, now) => {
      if (latencyMs !== undefined) this.#handshakes.record(latencyMs);
      const taken = this.latency.end(nodeId, latencyMs, now, this.listedCount, (id) =>
        this.membership.isEjected(id, now),
      );
      for (const { nodeId: id, until } of taken) {
        this.membership.markSlow(id, until);
        this.metrics.latencyEjection(id);
        this.log.change({
          event: "ejection",
          service: this.service.name,
          node: id,
          reason: "latency",
          until: new Date(until).toISOString(),
          isolateOnly: true,
        });
      }
    };
  }

  async #refill(objects: ServiceObjects, random: () => number, now: () => number): Promise<void> {
    this.counters.coordinatorCalls++;
    const size = this.service.rotation.leaseSize;
    try {
      const grant = await objects.lease(size);
      this.#positions.refill(grant);
      this.membership.adoptEjections(grant.ejected, now());
    } catch (error) {
      // Without its coordinator the isolate keeps serving: a block at a random offset still
      // rotates strictly within the isolate and only loosens the global interleaving.
      this.counters.leaseFailures++;
      this.log.fault("warn", {
        event: "lease-failure",
        service: this.service.name,
        reason: `rotation lease failed: ${String(error)}`,
      });
      this.#positions.refill({ start: Math.floor(random() * 2 ** 40), size });
    }
  }
}

/**
 * Every datacenter the service's configuration names: discovery asks each of them at the cluster
 * level, since an Alternator node answers for its own datacenter unless asked for another.
 */
function namedDatacenters(service: ResolvedService): string[] {
  const named = [
    ...(service.discovery?.datacenters ?? []),
    service.scope.dc,
    ...Object.values(service.scope.dcByContinent),
    ...Object.values(service.scope.dcByColo),
    ...service.nodes.map((node) => node.dc),
  ];
  return [...new Set(named.filter((dc): dc is string => dc !== undefined))].sort();
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
