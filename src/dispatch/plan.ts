import { BoundedHashPlan, underBoundedLoad } from "../balancer/consistent-hash.ts";
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
  /** The node a valid affinity cookie names: tried first while it is routable and has room. */
  readonly pinned?: Pin | undefined;
}

/** A session's node, as its affinity cookie names it. */
export interface Pin {
  readonly node: string;
  /**
   * Told that the node is routable but at its bounded load, so that this one request goes where
   * the policy sends it while the session stays with its node.
   */
  spilled(): void;
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
  const { runtime } = deps;
  const round = runtime.route(chain, deps.now()).schedule;
  // A pinned node that is not routable now is not pinned: its sessions move like any key.
  if (!round.includes(pinned.node)) return plan;
  // Nor may a cookie carry a node past the bound that a hash key could not: whoever holds one
  // (a replayed cookie shared by many clients, say) would otherwise choose a node's whole load.
  const { hash } = runtime.service;
  const outstanding = (id: string) => runtime.latency.outstanding(id);
  if (hash.boundedLoads && !underBoundedLoad(pinned.node, round, outstanding, hash.balanceFactor)) {
    pinned.spilled();
    return plan;
  }
  return new PinnedPlan(pinned.node, plan);
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
