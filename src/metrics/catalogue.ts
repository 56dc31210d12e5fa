import type { MetricType } from "./exposition.ts";

/** The gateway's version, as `roundhouse_build_info` reports it; a test holds it to package.json. */
export const VERSION = "0.1.0";

/**
 * Every metric the gateway exposes, named after Envoy's cluster statistics and HAProxy's
 * Prometheus exporter where they have one. docs/metrics.md documents each; a test holds the two
 * together.
 */
export const METRICS = {
  buildInfo: ["roundhouse_build_info", "gauge", "Always 1; labelled with the gateway's version."],
  requests: [
    "roundhouse_requests_total",
    "counter",
    "Client requests by the node that answered and the status class; once per request, retries included.",
  ],
  attempts: [
    "roundhouse_attempts_total",
    "counter",
    "Attempts at a node by outcome: response, network_error, timeout, not_sent.",
  ],
  retries: [
    "roundhouse_retries_total",
    "counter",
    "Attempts that were retries or hedges, by node.",
  ],
  hedges: ["roundhouse_hedges_total", "counter", "Hedges sent, by node."],
  retriesRefused: [
    "roundhouse_retries_refused_total",
    "counter",
    "Retries and hedges the retry budget refused.",
  ],
  handshake: [
    "roundhouse_handshake_seconds",
    "histogram",
    "Time from sending an attempt to its response headers.",
  ],
  inFlight: [
    "roundhouse_handshakes_in_flight",
    "gauge",
    "Handshakes in progress through the node's gate.",
  ],
  queued: [
    "roundhouse_handshakes_queued",
    "gauge",
    "Attempts waiting for a slot of the node's gate.",
  ],
  leasedSlots: [
    "roundhouse_leased_slots",
    "gauge",
    "Handshake slots of the node leased to isolates now.",
  ],
  leaseGrants: ["roundhouse_lease_calls_total", "counter", "Lease calls the node's gate answered."],
  gateDispatches: [
    "roundhouse_gate_dispatches_total",
    "counter",
    "Attempts the node's gate sent itself (the gate path).",
  ],
  ejectionsActive: ["roundhouse_ejections_active", "gauge", "Nodes ejected now."],
  ejections: [
    "roundhouse_ejections_total",
    "counter",
    "Ejections by node and reason: consecutive_failures, latency, health_check.",
  ],
  healthChecks: [
    "roundhouse_health_checks_total",
    "counter",
    "Active health check results by node: pass, fail.",
  ],
  membershipHealthy: [
    "roundhouse_membership_healthy",
    "gauge",
    "Nodes routable in the scope level serving now.",
  ],
  membershipTotal: ["roundhouse_membership_total", "gauge", "Nodes known, of every scope level."],
  draining: ["roundhouse_nodes_draining", "gauge", "Nodes an operator is draining."],
  panic: ["roundhouse_panic", "gauge", "1 while the serving level is in panic mode."],
  discoveryRounds: ["roundhouse_discovery_rounds_total", "counter", "Discovery rounds run."],
  discoveryRequests: [
    "roundhouse_discovery_requests_total",
    "counter",
    "Discovery requests by result: ok, failed.",
  ],
  discoveryAge: [
    "roundhouse_discovery_last_success_age_seconds",
    "gauge",
    "Seconds since a discovery answer was last applied.",
  ],
  syncPending: [
    "roundhouse_sync_pending_changes",
    "gauge",
    "Route changes of the service a peer has not acknowledged.",
  ],
  syncLag: [
    "roundhouse_sync_lag_seconds",
    "gauge",
    "Seconds since a peer with pending changes last synced; 0 when none are pending.",
  ],
  syncFailedRounds: [
    "roundhouse_sync_failed_rounds_total",
    "counter",
    "Fan-out rounds to peers that failed, by shard.",
  ],
} as const satisfies Record<string, readonly [string, MetricType, string]>;
