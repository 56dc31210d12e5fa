import { DurableObject } from "cloudflare:workers";
import { ejectionAllowance } from "../../balancer/ejection.ts";
import type { RotationLease } from "../../balancer/rotation.ts";
import {
  type DispatchMetrics,
  emptyMetrics,
  forgetIdleNodes,
  mergeMetrics,
  type NodeTallies,
  nodesIn,
} from "../../metrics/dispatch-metrics.ts";
import { addToHistory, type HistoryStep } from "../../metrics/history.ts";

/** A lease plus what the isolate must know to route with it. */
export interface LeaseGrant extends RotationLease {
  /** Nodes currently ejected, with the time each ejection ends (ms since epoch). */
  readonly ejected: ReadonlyArray<{ readonly nodeId: string; readonly until: number }>;
}

/** A gate asking to eject one of the service's nodes. */
export interface EjectionRequest {
  readonly nodeId: string;
  /** When the ejection would end. */
  readonly until: number;
  /** Nodes the service has now. */
  readonly totalNodes: number;
  /** Largest share of them that may be out at once. */
  readonly maxEjectedShare: number;
}

/** Counters a test or benchmark reads to prove the coordinator is off the per-request path. */
export interface CoordinatorStats {
  readonly leases: number;
  readonly positionsLeased: number;
  readonly ejected: number;
}

const EJECTIONS_KEY = "ejections";

/** What the coordinator totals for a service's metrics. */
export interface ServiceMetrics extends NodeTallies {
  /** Every isolate's dispatch counts. */
  readonly dispatch: DispatchMetrics;
  /** Ejections for consecutive failures granted, by node. */
  readonly ejectionsGranted: Record<string, number>;
  /** The last five minutes of requests and handshake times, in ten-second steps. */
  readonly history: HistoryStep[];
}

const METRICS_KEY = "metrics";

/**
 * One per service. It owns the service's rotation sequence and its ejection ledger. Isolates lease
 * blocks of positions from it, so it sees one call per block rather than one per request; gates
 * ask it before ejecting, because only the service-wide view can cap how many nodes are out.
 */
export class RotationCoordinator extends DurableObject<Env> {
  // The sequence restarts at 0 after eviction; that only shifts where the rotation resumes.
  #nextPosition = 0;
  #leases = 0;
  #positionsLeased = 0;
  readonly #ejections: Map<string, number>;
  readonly #metrics: ServiceMetrics;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const saved = ctx.storage.kv.get<Array<[string, number]>>(EJECTIONS_KEY) ?? [];
    this.#ejections = new Map(saved);
    this.#metrics = {
      dispatch: emptyMetrics(),
      ejectionsGranted: {},
      history: [],
      lastSeen: {},
      ...ctx.storage.kv.get<ServiceMetrics>(METRICS_KEY),
    };
    // Totals stored before nodes were aged carry no times: their nodes start aging now.
    const { dispatch, ejectionsGranted, lastSeen } = this.#metrics;
    const now = Date.now();
    for (const id of [...nodesIn(dispatch), ...Object.keys(ejectionsGranted)]) {
      lastSeen[id] ??= now;
    }
  }

  /** Adds an isolate's shipment of dispatch counts to the service's totals. */
  reportMetrics(counts: DispatchMetrics): void {
    const now = Date.now();
    mergeMetrics(this.#metrics.dispatch, counts);
    addToHistory(this.#metrics.history, counts, now);
    for (const id of nodesIn(counts)) this.#metrics.lastSeen[id] = now;
    forgetIdleNodes(this.#metrics, now);
    this.ctx.storage.kv.put(METRICS_KEY, this.#metrics);
  }

  /** The service's totals from every isolate, with the ejections granted here and those in force. */
  metrics(): ServiceMetrics & { ejected: Array<{ nodeId: string; until: number }> } {
    return { ...this.#metrics, ejected: this.#currentEjections(Date.now()) };
  }

  /** Grants the next `size` positions of the rotation. */
  lease(size: number): LeaseGrant {
    const start = this.#nextPosition;
    this.#nextPosition += size;
    this.#leases++;
    this.#positionsLeased += size;
    return { start, size, ejected: this.#currentEjections(Date.now()) };
  }

  /** Records an ejection if the service can spare the node; answers whether it may go. */
  requestEjection(request: EjectionRequest): boolean {
    const now = Date.now();
    const current = this.#currentEjections(now);
    const alreadyOut = current.some((e) => e.nodeId === request.nodeId);
    const allowance = ejectionAllowance(request.totalNodes, request.maxEjectedShare);
    if (!alreadyOut && current.length >= allowance) return false;
    this.#ejections.set(request.nodeId, request.until);
    this.#save();
    const granted = this.#metrics.ejectionsGranted;
    granted[request.nodeId] = (granted[request.nodeId] ?? 0) + 1;
    this.#metrics.lastSeen[request.nodeId] = now;
    this.ctx.storage.kv.put(METRICS_KEY, this.#metrics);
    return true;
  }

  /**
   * Records an ejection another gateway made (peer route sync). It was capped where it was made,
   * so it is not capped again; an ejection ending sooner than one already recorded is ignored.
   */
  applySyncedEjection(nodeId: string, until: number): void {
    if (until <= Date.now() || (this.#ejections.get(nodeId) ?? 0) >= until) return;
    this.#ejections.set(nodeId, until);
    this.#save();
  }

  /** Lifts an ejection early (the node proved healthy, or was removed). */
  readmit(nodeId: string): void {
    if (this.#ejections.delete(nodeId)) this.#save();
  }

  /** Nodes ejected now, with the time each ejection ends. */
  ejectedNodes(): Array<{ nodeId: string; until: number }> {
    return this.#currentEjections(Date.now());
  }

  stats(): CoordinatorStats {
    return {
      leases: this.#leases,
      positionsLeased: this.#positionsLeased,
      ejected: this.#currentEjections(Date.now()).length,
    };
  }

  #currentEjections(now: number): Array<{ nodeId: string; until: number }> {
    let expired = false;
    for (const [id, until] of this.#ejections) {
      if (until <= now) {
        this.#ejections.delete(id);
        expired = true;
      }
    }
    if (expired) this.#save();
    return [...this.#ejections].map(([nodeId, until]) => ({ nodeId, until }));
  }

  #save(): void {
    this.ctx.storage.kv.put(EJECTIONS_KEY, [...this.#ejections]);
  }
}
