import { BoundedHashPlan } from "../balancer/consistent-hash.ts";
import { murmur3 } from "../balancer/hash.ts";
import { LeastOutstandingPlan, type NodePlan } from "../balancer/least-outstanding.ts";
import { PinnedPlan } from "../balancer/pinned-plan.ts";
import { QueryPlan } from "../balancer/query-plan.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import type { DispatchDeps } from "./deps.ts";

/** What a request tells the plan beyond its scope. */
export interface PlanHints {
  /** The request's hash key under `policy: "consistent_hash"`; absent: a random point. */
  readonly hashKey?: string | undefined;
  /** The node a valid affinity cookie names: tried first while it is routable. */
  readonly pinned?: string | undefined;
}

/** The order of nodes for one dispatch, by the service's policy and the request's affinity. */
export async function planFor(
  chain: readonly ScopeLevel[],
  deps: DispatchDeps,
  hints: PlanHints = {},
): Promise<NodePlan> {
  const plan = await policyPlan(chain, deps, hints.hashKey);
  const { pinned } = hints;
  if (pinned === undefined) return plan;
  // A pinned node that is not routable now is not pinned: its sessions move like any key.
  const routable = deps.runtime.route(chain, deps.now()).schedule.includes(pinned);
  return routable ? new PinnedPlan(pinned, plan) : plan;
}

async function policyPlan(
  chain: readonly ScopeLevel[],
  deps: DispatchDeps,
  hashKey: string | undefined,
): Promise<NodePlan> {
  const { runtime } = deps;
  const route = (tried: ReadonlySet<string>) => runtime.route(chain, deps.now(), tried).schedule;
  const outstanding = (id: string) => runtime.latency.outstanding(id);
  const { policy, hash } = runtime.service;
  if (policy === "least_outstanding") {
    await runtime.refresh(deps.objects, chain, deps.now());
    return new LeastOutstandingPlan(route, outstanding, deps.random);
  }
  if (policy === "consistent_hash") {
    await runtime.refresh(deps.objects, chain, deps.now());
    const point = hashKey === undefined ? Math.floor(deps.random() * 2 ** 32) : murmur3(hashKey);
    const factor = hash.boundedLoads ? hash.balanceFactor : undefined;
    return new BoundedHashPlan(point, route, outstanding, runtime.rings, factor);
  }
  const [position] = await Promise.all([
    runtime.nextPosition(deps.objects, deps.random, deps.now),
    runtime.refresh(deps.objects, chain, deps.now()),
  ]);
  return new QueryPlan(position, route, (id) =>
    runtime.membership.admits(id, deps.now(), deps.random),
  );
}
