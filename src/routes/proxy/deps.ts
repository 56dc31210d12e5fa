import type { ResolvedService } from "../../config/load.ts";
import type { DispatchDeps } from "./dispatch.ts";
import { runtimeFor, type ServiceObjects } from "./service-runtime.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The service's Durable Objects as the dispatch loop uses them. */
export function serviceObjects(env: Env, service: string): ServiceObjects {
  return {
    lease: (size) => env.ROTATION.get(env.ROTATION.idFromName(service)).lease(size),
    view: (config, chain, knownVersion) =>
      env.LIVE_NODES.get(env.LIVE_NODES.idFromName(service)).view({
        config,
        chain: [...chain],
        knownVersion,
      }),
  };
}

/** What a dispatch of a request or an invocation runs on: the real clock, objects and randomness. */
export function dispatchDeps(env: Env, service: ResolvedService): DispatchDeps {
  return {
    env,
    runtime: runtimeFor(service),
    objects: serviceObjects(env, service.name),
    now: Date.now,
    sleep,
    random: Math.random,
  };
}
