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
  /** Every round of every system, when the run had more than one. */
  rounds?: Partial<Record<ScenarioName, Partial<Record<SystemName, SystemResult[]>>>>;
  /** Systems or runs that did not happen, and why. */
  readonly skipped: Record<string, string>;
}

/** Roundhouse's cost over a bare forwarding Worker: CPU per request and req/s, as ratios. */
export interface FloorRatio {
  /** Median over rounds of each round's ratio (the two rows measured one after the other). */
  readonly cpu: number | null;
  readonly rps: number;
  /** Each round's ratios, when there was more than one. */
  readonly byRound?: readonly { readonly cpu: number | null; readonly rps: number }[];
  /** The hot path's targets, and whether the medians met them. */
  readonly targets: {
    readonly cpuAtMost: number;
    readonly rpsAtLeast: number;
    readonly met: boolean;
  };
}

/** The gateway's cost over the floor that issue "Figures that hold on main" sets as its target. */
export const FLOOR_TARGETS = { cpuAtMost: 1.15, rpsAtLeast: 0.9 } as const;

/** The floor ratio of a run that measured both rows in the healthy scenario. */
export function floorRatioOf(result: VersusResult): FloorRatio | undefined {
  const gateways = result.rounds?.healthy?.["roundhouse-workerd"] ?? [
    result.scenarios.healthy?.["roundhouse-workerd"],
  ];
  const floors = result.rounds?.healthy?.["workerd-floor"] ?? [
    result.scenarios.healthy?.["workerd-floor"],
  ];
  const byRound = gateways.flatMap((gateway, i) => {
    const floor = floors[i];
    if (!gateway || !floor || floor.rps <= 0) return [];
    const cpu =
      gateway.cpuMsPerRequest !== null && floor.cpuMsPerRequest
        ? gateway.cpuMsPerRequest / floor.cpuMsPerRequest
        : null;
    return [{ cpu, rps: gateway.rps / floor.rps }];
  });
  if (byRound.length === 0) return undefined;
  const cpus = byRound.flatMap((r) => (r.cpu === null ? [] : [r.cpu]));
  const cpu = cpus.length > 0 ? median(cpus) : null;
  const rps = median(byRound.map((r) => r.rps));
  const met = cpu !== null && cpu <= FLOOR_TARGETS.cpuAtMost && rps >= FLOOR_TARGETS.rpsAtLeast;
  return {
    cpu,
    rps,
    ...(byRound.length > 1 ? { byRound } : {}),
    targets: { ...FLOOR_TARGETS, met },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
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
