// The shape of bench/results/versus.json.
import type { Measurement } from "./cannon.ts";
import type { NodeId } from "./nodes.ts";
import type { ScenarioName } from "./scenarios.ts";
import type { SystemName } from "./systems.ts";

export interface SystemResult
  extends Pick<
    Measurement,
    | "rps"
    | "p50Ms"
    | "p90Ms"
    | "p99Ms"
    | "errorRate"
    | "requests"
    | "non2xx"
    | "transportErrors"
    | "statusCounts"
    | "failuresPerSecond"
  > {
  /** Requests each node counted itself, retries and health probes included. */
  readonly perNode: Record<NodeId, number>;
  /** CPU time of the balancer's processes per answered request, in ms; null for direct. */
  readonly cpuMsPerRequest: number | null;
}

/** Cost of a request that touches no node, through wrangler's dev proxy and past it. */
export interface Overhead {
  readonly viaWrangler: HealthTiming;
  readonly direct?: HealthTiming;
}

export interface HealthTiming extends Pick<Measurement, "rps" | "p50Ms" | "p90Ms" | "p99Ms"> {
  /** CPU of wrangler and both workerd per request, ms. */
  readonly cpuMsPerRequest: number | null;
}

export type ScenarioResults = Partial<Record<SystemName, SystemResult>>;

export interface VersusResult {
  readonly machine: Record<string, unknown>;
  readonly settings: Record<string, unknown>;
  readonly scenarios: Partial<Record<ScenarioName, ScenarioResults>>;
  /** Timing of GET /_gw/health, from the healthy scenario. */
  overhead?: Overhead;
  /** roundhouse-workerd over workerd-floor in the healthy scenario of the same run. */
  floorRatio?: FloorRatio;
  /** Systems or runs that did not happen, and why. */
  readonly skipped: Record<string, string>;
}

/** Roundhouse's cost over a bare forwarding Worker: CPU per request and req/s, as ratios. */
export interface FloorRatio {
  readonly cpu: number | null;
  readonly rps: number;
}

/** The floor ratio of a run that measured both rows in the healthy scenario. */
export function floorRatioOf(result: VersusResult): FloorRatio | undefined {
  const healthy = result.scenarios.healthy;
  const gateway = healthy?.["roundhouse-workerd"];
  const floor = healthy?.["workerd-floor"];
  if (!gateway || !floor || floor.rps <= 0) return undefined;
  const cpu =
    gateway.cpuMsPerRequest !== null && floor.cpuMsPerRequest
      ? gateway.cpuMsPerRequest / floor.cpuMsPerRequest
      : null;
  return { cpu, rps: gateway.rps / floor.rps };
}

export function systemResult(
  m: Measurement,
  perNode: Record<NodeId, number>,
  cpuMsPerRequest: number | null,
): SystemResult {
  const { rps, p50Ms, p90Ms, p99Ms, errorRate, requests, non2xx, transportErrors } = m;
  return {
    rps,
    p50Ms,
    p90Ms,
    p99Ms,
    errorRate,
    perNode,
    cpuMsPerRequest,
    requests,
    non2xx,
    transportErrors,
    statusCounts: m.statusCounts,
    failuresPerSecond: m.failuresPerSecond,
  };
}
