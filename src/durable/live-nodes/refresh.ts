import type { ScopeLevel } from "../../balancer/scope.ts";
import type { ServiceConfig } from "../../config/schema.ts";
import { logOf } from "../../logging/log-of.ts";
import { type NodeFetcher, nodeFetcher } from "../../upstream/egress.ts";
import { coordinatorOf, readmitNode } from "../stubs.ts";
import { recordRouteChangeOrLog } from "../sync/record.ts";
import { secretHeaders } from "./discovery.ts";
import { discoveryRound, roundLevels } from "./discovery-round.ts";
import { probeNodes } from "./health.ts";
import { hostOf, type LiveMembership } from "./membership.ts";
import type { LiveState } from "./state.ts";

/** What a LiveNodes object lends its refreshes: its state, membership and change hook. */
export interface RefreshContext {
  readonly env: Env;
  readonly state: LiveState;
  readonly membership: LiveMembership;
  /** Bumps the version and saves: isolates fetch the new membership. */
  changed(): void;
}

/**
 * One discovery round over every level of every chain in use and, at the cluster level, every
 * datacenter the configuration names. A node that left the lists and now returns is readmitted.
 */
export async function discover(
  ctx: RefreshContext,
  chains: readonly (readonly ScopeLevel[])[],
): Promise<void> {
  const { state } = ctx;
  const config = state.config;
  const discovery = config?.discovery;
  if (!config || !discovery) return;
  const now = Date.now();
  state.lastDiscoveryAt = now;
  state.counters.rounds++;
  let via: NodeFetcher;
  let headers: Record<string, string>;
  try {
    via = nodeFetcher(ctx.env, config.egress);
    headers = secretHeaders(ctx.env, discovery.headers);
  } catch (error) {
    state.counters.failures++;
    state.counters.lastFailure = String(error);
    return;
  }
  const result = await discoveryRound(state, {
    settings: discovery,
    levels: roundLevels(chains, discovery.datacenters),
    policy: ctx.membership.policy(),
    via,
    headers,
    healthy: (origin) => state.probes[new URL(origin).host]?.healthy !== false,
    now,
    warn: (reason) =>
      logOf(ctx.env).fault("warn", { event: "discovery-failure", service: config.service, reason }),
  });
  const joined = result.first ? 0 : now;
  for (const url of result.added) {
    const id = hostOf(url);
    if ((state.firstSeen[id] ?? -1) >= 0 && !result.first) {
      state.firstSeen[id] = now;
      await readmit(ctx, id, "rediscovered");
    } else state.firstSeen[id] ??= joined;
  }
  if (result.moved) {
    ctx.changed();
    logOf(ctx.env).change({
      event: "discovery-change",
      service: config.service,
      reason: "a discovery answer changed the lists",
      added: result.added.length,
    });
  }
}

/**
 * A node that left the lists and came back was restarted or repaired: an ejection earned before
 * it left says nothing about it now. Lifting it (as Envoy does on a passing health check) lets
 * traffic, ramped by slow start, return at once instead of after the ejection runs out.
 */
async function readmit(
  ctx: RefreshContext,
  nodeId: string,
  reason: "rediscovered" | "health_check_passed",
): Promise<void> {
  const service = ctx.state.config?.service;
  if (!service) return;
  try {
    await readmitNode(ctx.env, service, nodeId);
    logOf(ctx.env).change({ event: "readmission", service, node: nodeId, reason });
    await recordRouteChangeOrLog(ctx.env, ctx.state.config?.gatewayId, service, nodeId, {
      kind: "readmit",
    });
  } catch (error) {
    logOf(ctx.env).fault("warn", {
      event: "readmission-failure",
      service,
      node: nodeId,
      reason: String(error),
    });
  }
}

/** One round of active health checks of every known node. */
export async function checkHealth(
  ctx: RefreshContext,
  health: NonNullable<ServiceConfig["health"]>,
): Promise<void> {
  const config = ctx.state.config;
  if (!config) return;
  ctx.state.lastHealthAt = Date.now();
  const targets = ctx.membership.allNodes();
  let via: NodeFetcher;
  try {
    via = nodeFetcher(ctx.env, config.egress);
  } catch (error) {
    // Without its binding no probe can pass or fail; the last known health stands.
    logOf(ctx.env).fault("warn", {
      event: "refresh-failure",
      service: config.service,
      reason: String(error),
    });
    return;
  }
  const { state } = ctx;
  const tally = state.healthTally;
  const before = new Map(Object.entries(state.probes).map(([id, p]) => [id, p.healthy]));
  const { flipped, passing } = await probeNodes(state.probes, targets, health, via, tally);
  for (const [id, probe] of Object.entries(state.probes)) {
    if ((before.get(id) ?? true) === probe.healthy) continue;
    logOf(ctx.env).change({
      event: "health-change",
      service: config.service,
      node: id,
      reason: probe.healthy ? "health checks pass" : "health checks fail",
      healthy: probe.healthy,
    });
  }
  if (flipped) ctx.changed();
  await unejectPassing(ctx, passing);
}

/**
 * An ejected node whose active check passes is readmitted at once (Envoy's default): a node that
 * fails some requests but answers its checks, such as one that flaps, would otherwise sit out a
 * whole ejection with capacity lost; retries cover the requests it still fails.
 */
async function unejectPassing(ctx: RefreshContext, passing: ReadonlySet<string>): Promise<void> {
  const service = ctx.state.config?.service;
  if (!service || passing.size === 0) return;
  try {
    const ejected = await coordinatorOf(ctx.env, service).ejectedNodes();
    for (const { nodeId } of ejected)
      if (passing.has(nodeId)) await readmit(ctx, nodeId, "health_check_passed");
  } catch (error) {
    logOf(ctx.env).fault("warn", {
      event: "refresh-failure",
      service,
      reason: `could not check ejections: ${String(error)}`,
    });
  }
}
