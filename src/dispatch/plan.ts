import { BoundedHashPlan, underBoundedLoad } from "../balancer/consistent-hash.ts";
import { murmur3 } from "../balancer/hash.ts";
import { LeastOutstandingPlan } from "../balancer/least-outstanding.ts";
import type { NodePlan } from "../balancer/node-plan.ts";
import { PinnedPlan } from "../balancer/pinned-plan.ts";
import { RotationPlan } from "../balancer/rotation-plan.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import type { ResolvedService } from "../config/load.ts";
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

/** How each policy builds its plan: the one place a policy name meets its implementation. */
const POLICY_PLANS: Record<
  ResolvedService["policy"],
  (
    chain: readonly ScopeLevel[],
    deps: DispatchDeps,
    hashKey: string | undefined,
  ) => Promise<NodePlan>
> = {
  async round_robin(chain, deps) {
    const { runtime } = deps;
    const [position] = await Promise.all([
      runtime.nextPosition(deps.objects, deps.random, deps.now),
      runtime.refresh(deps.objects, chain, deps.now()),
    ]);
    return new RotationPlan(position, routeOf(chain, deps), (id) =>
      runtime.membership.admits(id, deps.now(), deps.random),
    );
  },
  async least_outstanding(chain, deps) {
    const { runtime } = deps;
    await runtime.refresh(deps.objects, chain, deps.now());
    const outstanding = (id: string) => runtime.latency.outstanding(id);
    return new LeastOutstandingPlan(routeOf(chain, deps), outstanding, deps.random);
  },
  async consistent_hash(chain, deps, hashKey) {
    const { runtime } = deps;
    await runtime.refresh(deps.objects, chain, deps.now());
    const { hash } = runtime.service;
    const point = hashKey === undefined ? Math.floor(deps.random() * 2 ** 32) : murmur3(hashKey);
    const factor = hash.boundedLoads ? hash.balanceFactor : undefined;
    const outstanding = (id: string) => runtime.latency.outstanding(id);
    return new BoundedHashPlan(point, routeOf(chain, deps), outstanding, runtime.rings, factor);
  },
};

/** The chain's rotation round now, given the dispatch's tried-set. */
function routeOf(chain: readonly ScopeLevel[], deps: DispatchDeps) {
  return (tried: ReadonlySet<string>) => deps.runtime.route(chain, deps.now(), tried).schedule;
}

function policyPlan(
  chain: readonly ScopeLevel[],
  deps: DispatchDeps,
  hashKey: string | undefined,
): Promise<NodePlan> {
  return POLICY_PLANS[deps.runtime.service.policy](chain, deps, hashKey);
}
