import type { ResolvedService } from "../config/load.ts";
import { coordinatorOf, gateOf, liveNodesOf } from "../durable/stubs.ts";
import { requireEgress } from "../upstream/egress.ts";
import type { LeaseContext } from "./lease-client.ts";
import {
  type PublicReads,
  runtimeFor,
  type ServiceObjects,
  type ServiceRuntime,
} from "./service-runtime.ts";

/** Runtime pieces the dispatch loop needs; injected so the loop stays testable. */
export interface DispatchDeps {
  readonly env: Env;
  readonly runtime: ServiceRuntime;
  readonly objects: ServiceObjects;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** What the lease client needs of this dispatch: its gate calls, clock and waitUntil. */
  readonly leaseContext: LeaseContext;
  /** Ships the runtime's gathered metrics to the coordinator in the background, when due. */
  readonly shipMetrics?: () => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The service's Durable Objects as the dispatch loop uses them. */
function serviceObjects(env: Env, service: string): ServiceObjects {
  return {
    lease: (size) => coordinatorOf(env, service).lease(size),
    view: (config, chain, knownVersion) =>
      liveNodesOf(env, service).view({
        config,
        chain: [...chain],
        knownVersion,
      }),
  };
}

/** The service's objects as a public read uses them: nothing it calls writes their storage. */
export function publicReads(env: Env, service: string): PublicReads {
  return {
    peek: (config, chain, knownVersion) =>
      liveNodesOf(env, service).peek({ config, chain: [...chain], knownVersion }),
    ejections: () => coordinatorOf(env, service).ejectedNodes(),
  };
}

/**
 * What a dispatch of a request or an invocation runs on: the real clock, objects and randomness,
 * and the request's execution context, so lease renewals can finish after the response. Throws
 * the 503 problem when the service's egress binding is missing, before anything is sent.
 */
export function dispatchDeps(
  env: Env,
  service: ResolvedService,
  waitUntil: (work: Promise<unknown>) => void,
): DispatchDeps {
  requireEgress(env, service.name, service.egress);
  const runtime = runtimeFor(service);
  return {
    env,
    runtime,
    objects: serviceObjects(env, service.name),
    now: Date.now,
    sleep,
    random: Math.random,
    leaseContext: {
      get totalNodes() {
        return runtime.listedCount;
      },
      now: Date.now,
      background: waitUntil,
      call: (node, request) => gateOf(env, service, node).lease(request),
    },
    shipMetrics: () =>
      runtime.metricsShipping.afterDispatch(Date.now(), waitUntil, (counts) =>
        coordinatorOf(env, service.name).reportMetrics(counts),
      ),
  };
}
