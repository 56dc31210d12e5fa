import { type ScopeLevel, scopeKey } from "../balancer/scope.ts";
import type { ResolvedService, SyncConfig } from "../config/load.ts";
import { coordinatorOf } from "../durable/stubs.ts";
import { type RecentFigures, recentFigures, STEP_MS } from "../metrics/history.ts";
import { gather } from "./service-views.ts";

/** Window the dashboard's rates and percentiles are taken over. */
const WINDOW_MS = 60_000;

/** A node as the dashboard shows it. */
export interface NodeRow extends RecentFigures {
  readonly id: string;
  readonly url: string;
  readonly state: "healthy" | "ejected" | "draining" | "slow start" | "unhealthy";
  /** Why, when not healthy. */
  readonly why: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly leased: number;
  readonly weight: number;
}

/** A service as the dashboard shows it. */
export interface ServiceCard {
  readonly name: string;
  readonly policy: string;
  readonly serving: string | null;
  readonly panic: boolean;
  readonly discovery: string;
  readonly peers: readonly { peer: string; pending: number; lastSyncedAt: number | null }[];
  readonly figures: RecentFigures;
  /** p50 and p99 per ten-second step over the last five minutes. */
  readonly chart: readonly { at: number; p50Ms: number | null; p99Ms: number | null }[];
  readonly nodes: readonly NodeRow[];
}

/** What the dashboard shows of one service, read from its objects. */
export async function serviceCard(
  env: Env,
  service: ResolvedService,
  sync: SyncConfig | undefined,
  now: number,
): Promise<ServiceCard> {
  const [state, totals] = await Promise.all([
    gather(env, service, sync),
    coordinatorOf(env, service.name).metrics(),
  ]);
  const history = totals.history;
  const since = now - WINDOW_MS;
  const nodes = [...state.byId.values()].map(({ node }): NodeRow => {
    const gate = state.gates.get(node.id);
    const until = state.ejected.get(node.id);
    const probe = state.report.probes[node.id];
    const ramping =
      service.slowStartMs > 0 && node.since > 0 && now < node.since + service.slowStartMs;
    const [stateName, why]: [NodeRow["state"], string] = node.draining
      ? [
          "draining",
          node.draining === "peer" ? "drained by a peer gateway" : "drained by an operator",
        ]
      : until !== undefined
        ? ["ejected", `consecutive failures, until ${new Date(until).toISOString().slice(11, 19)}`]
        : !node.healthy
          ? ["unhealthy", `failing health checks (${probe?.streak ?? 0} in a row)`]
          : ramping
            ? [
                "slow start",
                `ramping up until ${new Date(node.since + service.slowStartMs).toISOString().slice(11, 19)}`,
              ]
            : ["healthy", ""];
    return {
      id: node.id,
      url: node.url,
      state: stateName,
      why,
      inFlight: gate?.inFlight ?? 0,
      queued: gate?.queued ?? 0,
      leased: gate?.leased ?? 0,
      weight: node.weight,
      ...recentFigures(history, since, now, node.id),
    };
  });
  const discovery = service.discovery
    ? `${state.report.pace}; last answer ${
        state.report.discovery.lastGoodAt
          ? `${Math.round((now - state.report.discovery.lastGoodAt) / 1000)} s ago`
          : "never"
      }; ${state.report.discovery.failures} rejected`
    : "off (configured nodes)";
  return {
    name: service.name,
    policy: service.policy,
    serving: state.serving >= 0 ? scopeKey(state.chain[state.serving] as ScopeLevel) : null,
    panic: state.panic,
    discovery,
    peers: state.peers.map((p) => ({
      peer: p.peer,
      pending: p.pending,
      lastSyncedAt: p.lastSyncedAt,
    })),
    figures: recentFigures(history, since, now),
    chart: history.map((step) => {
      const f = recentFigures([step], step.at, step.at + STEP_MS);
      return { at: step.at, p50Ms: f.p50Ms, p99Ms: f.p99Ms };
    }),
    nodes,
  };
}
