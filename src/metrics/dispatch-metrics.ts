/**
 * What dispatches observed, as plain counts an isolate gathers and ships to its service's
 * coordinator, where every isolate's counts meet. Plain data, so it crosses RPC as it is and
 * merges by addition in any order.
 */

/** Upper bounds of the handshake-time histogram, in seconds (Prometheus' default buckets). */
export const HANDSHAKE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How an attempt ended, as the metrics label it. */
export type AttemptOutcomeLabel = "response" | "network_error" | "timeout" | "not_sent";

/** A histogram's counts: one per bucket of HANDSHAKE_BUCKETS_S, then the overflow. */
export interface HistogramCounts {
  buckets: number[];
  sum: number;
  count: number;
}

/** Counts by node id ("" for a request no node answered), then by label value. */
export type Counts = Record<string, Record<string, number>>;

export interface DispatchMetrics {
  /** Client requests by the node that answered and the answer's status class. */
  requests: Counts;
  /** Attempts by node and outcome. */
  attempts: Counts;
  /** Attempts that were retries (hedges included), by node. */
  retries: Record<string, number>;
  /** Attempts that counted against their node (network error, timeout, 5xx), by node. */
  failures: Record<string, number>;
  /** Hedges sent, by node. */
  hedges: Record<string, number>;
  /** Latency-outlier ejections an isolate made, by node. */
  latencyEjections: Record<string, number>;
  /** Time to response headers, by node. */
  handshakes: Record<string, HistogramCounts>;
  /** Retries and hedges the retry budget refused. */
  retriesRefused: number;
}

export function emptyMetrics(): DispatchMetrics {
  return {
    requests: {},
    attempts: {},
    retries: {},
    failures: {},
    hedges: {},
    latencyEjections: {},
    handshakes: {},
    retriesRefused: 0,
  };
}

/** Adds `from` into `into`. */
export function mergeMetrics(into: DispatchMetrics, from: DispatchMetrics): void {
  mergeCounts(into.requests, from.requests);
  mergeCounts(into.attempts, from.attempts);
  for (const key of ["retries", "failures", "hedges", "latencyEjections"] as const) {
    for (const [node, n] of Object.entries(from[key])) into[key][node] = (into[key][node] ?? 0) + n;
  }
  for (const [node, h] of Object.entries(from.handshakes)) {
    const held = histogramOf(into, node);
    h.buckets.forEach((n, i) => {
      held.buckets[i] = (held.buckets[i] ?? 0) + n;
    });
    held.sum += h.sum;
    held.count += h.count;
  }
  into.retriesRefused += from.retriesRefused;
}

/** How long a node's counts are kept after the last shipment or ejection that named it. */
export const NODE_METRICS_RETENTION_MS = 10 * 60_000;

/** The per-node tallies a service's totals keep, and when each node last appeared in them. */
export interface NodeTallies {
  readonly dispatch: DispatchMetrics;
  readonly ejectionsGranted: Record<string, number>;
  /** When each node was last named by a shipment or an ejection, ms since epoch. */
  readonly lastSeen: Record<string, number>;
}

/** The node ids `metrics` counts anything for ("" is no node). */
export function nodesIn(metrics: DispatchMetrics): Set<string> {
  const ids = new Set<string>();
  for (const map of perNodeMaps(metrics)) for (const id of Object.keys(map)) ids.add(id);
  ids.delete("");
  return ids;
}

/**
 * Forgets every node not named within NODE_METRICS_RETENTION_MS of `now`, so the totals of a
 * service whose nodes churn stay bounded by the nodes of the last minutes. A node that comes back
 * starts its counters from zero, which Prometheus reads as a counter reset.
 */
export function forgetIdleNodes(tallies: NodeTallies, now: number): void {
  for (const [id, at] of Object.entries(tallies.lastSeen)) {
    if (now - at <= NODE_METRICS_RETENTION_MS) continue;
    delete tallies.lastSeen[id];
    delete tallies.ejectionsGranted[id];
    for (const map of perNodeMaps(tallies.dispatch)) delete map[id];
  }
}

function perNodeMaps(metrics: DispatchMetrics): Record<string, unknown>[] {
  return [
    metrics.requests,
    metrics.attempts,
    metrics.retries,
    metrics.failures,
    metrics.hedges,
    metrics.latencyEjections,
    metrics.handshakes,
  ];
}

function mergeCounts(into: Counts, from: Counts): void {
  for (const [node, byLabel] of Object.entries(from)) {
    for (const [label, n] of Object.entries(byLabel)) bump(into, node, label, n);
  }
}

function bump(counts: Counts, node: string, label: string, n = 1): void {
  const held = counts[node] ?? {};
  held[label] = (held[label] ?? 0) + n;
  counts[node] = held;
}

function histogramOf(metrics: DispatchMetrics, node: string): HistogramCounts {
  const held = metrics.handshakes[node] ?? {
    buckets: HANDSHAKE_BUCKETS_S.map(() => 0).concat(0),
    sum: 0,
    count: 0,
  };
  metrics.handshakes[node] = held;
  return held;
}

/** The status class label of a status: "2xx" … "5xx". */
export function statusClass(status: number): string {
  return `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`;
}

/**
 * The dispatch module's observer: what the attempt loop and the runtime report, gathered as
 * counts until they are shipped. One per service runtime in an isolate.
 */
export class MetricsRecorder {
  #pending = emptyMetrics();
  #empty = true;

  attempt(nodeId: string, outcome: AttemptOutcomeLabel, retry: boolean, failed = false): void {
    bump(this.#pending.attempts, nodeId, outcome);
    if (retry) this.#pending.retries[nodeId] = (this.#pending.retries[nodeId] ?? 0) + 1;
    if (failed) this.#pending.failures[nodeId] = (this.#pending.failures[nodeId] ?? 0) + 1;
    this.#empty = false;
  }

  hedge(nodeId: string): void {
    this.#pending.hedges[nodeId] = (this.#pending.hedges[nodeId] ?? 0) + 1;
    this.#empty = false;
  }

  handshake(nodeId: string, ms: number): void {
    const h = histogramOf(this.#pending, nodeId);
    const seconds = ms / 1000;
    const at = HANDSHAKE_BUCKETS_S.findIndex((bound) => seconds <= bound);
    const index = at < 0 ? HANDSHAKE_BUCKETS_S.length : at;
    h.buckets[index] = (h.buckets[index] ?? 0) + 1;
    h.sum += seconds;
    h.count++;
    this.#empty = false;
  }

  answered(nodeId: string | undefined, status: number): void {
    bump(this.#pending.requests, nodeId ?? "", statusClass(status));
    this.#empty = false;
  }

  retryRefused(): void {
    this.#pending.retriesRefused++;
    this.#empty = false;
  }

  latencyEjection(nodeId: string): void {
    this.#pending.latencyEjections[nodeId] = (this.#pending.latencyEjections[nodeId] ?? 0) + 1;
    this.#empty = false;
  }

  get hasPending(): boolean {
    return !this.#empty;
  }

  /** What was gathered since the last take, now handed over. */
  take(): DispatchMetrics {
    const taken = this.#pending;
    this.#pending = emptyMetrics();
    this.#empty = true;
    return taken;
  }

  /** Puts back counts whose shipping failed, so none is lost. */
  restore(counts: DispatchMetrics): void {
    mergeMetrics(this.#pending, counts);
    this.#empty = false;
  }
}
