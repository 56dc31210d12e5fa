import {
  type EjectionPolicy,
  eject,
  HEALTHY,
  type HealthState,
  isEjected,
  recordFailure,
  recordSuccess,
} from "../../balancer/ejection.ts";
import { logOf } from "../../logging/log-of.ts";
import { coordinatorOf } from "../stubs.ts";
import { recordRouteChangeOrLog } from "../sync/record.ts";

/** What health bookkeeping needs to know about an attempt. */
export interface HealthContext {
  /** Service the node belongs to (names its coordinator). */
  readonly service: string;
  readonly nodeId: string;
  readonly ejection: EjectionPolicy;
  /** Nodes the service has, for the coordinator's ejection cap. */
  readonly totalNodes: number;
  /** This gateway's id when peer route sync is on: a granted ejection is recorded for the peers. */
  readonly gatewayId?: string;
}

const HEALTH_PREFIX = "health:";

/**
 * A gate's record of its node's health: the failure streak, the ejection and its count, kept in
 * the object's synchronous storage so that no await sits between a decision and its record, and
 * read back when the object restarts.
 */
export class GateHealth {
  readonly #states = new Map<string, HealthState>();
  readonly #storage: DurableObjectStorage;
  readonly #env: Env;

  constructor(storage: DurableObjectStorage, env: Env) {
    this.#storage = storage;
    this.#env = env;
    for (const [key, state] of storage.kv.list<HealthState>({ prefix: HEALTH_PREFIX })) {
      this.#states.set(key.slice(HEALTH_PREFIX.length), state);
    }
  }

  /** The node's ejection end if it is ejected at `now`. */
  ejectedUntil(nodeId: string, now: number): number | undefined {
    const state = this.#states.get(nodeId) ?? HEALTHY;
    return isEjected(state, now) ? state.ejectedUntil : undefined;
  }

  /** Every node's state, for stats. */
  snapshot(): Record<string, HealthState> {
    return Object.fromEntries(this.#states);
  }

  succeeded(context: HealthContext): void {
    const state = this.#states.get(context.nodeId) ?? HEALTHY;
    const next = recordSuccess(state, Date.now(), context.ejection);
    if (next !== state) this.#store(context.nodeId, next);
  }

  /** Counts a failure; returns the ejection's end when this failure got the node ejected. */
  async failed(context: HealthContext): Promise<number | undefined> {
    const state = this.#states.get(context.nodeId) ?? HEALTHY;
    const { state: next, wantsEjection } = recordFailure(state, context.ejection);
    if (!wantsEjection) {
      this.#store(context.nodeId, next);
      return undefined;
    }
    const ejected = eject(next, Date.now(), context.ejection);
    const granted = await this.#askToEject(context, ejected.ejectedUntil);
    // Refused: the service cannot spare the node; keep the streak so the next failure asks again.
    this.#store(context.nodeId, granted ? ejected : next);
    if (!granted) return undefined;
    logOf(this.#env).change({
      event: "ejection",
      service: context.service,
      node: context.nodeId,
      reason: "consecutive_failures",
      failures: next.streak,
      until: new Date(ejected.ejectedUntil).toISOString(),
    });
    await recordRouteChangeOrLog(this.#env, context.gatewayId, context.service, context.nodeId, {
      kind: "eject",
      until: ejected.ejectedUntil,
    });
    return ejected.ejectedUntil;
  }

  /** Lifts a node's ejection and failure streak at once. */
  readmit(nodeId: string): void {
    this.#store(nodeId, HEALTHY);
  }

  /** The coordinator's consent; without an answer the node stays in, as the safer mistake. */
  async #askToEject(context: HealthContext, until: number): Promise<boolean> {
    try {
      const coordinator = coordinatorOf(this.#env, context.service);
      return await coordinator.requestEjection({
        nodeId: context.nodeId,
        until,
        totalNodes: context.totalNodes,
        maxEjectedShare: context.ejection.maxEjectedShare,
      });
    } catch (error) {
      logOf(this.#env).fault("warn", {
        event: "ejection-failure",
        service: context.service,
        node: context.nodeId,
        reason: `not decided: ${String(error)}`,
      });
      return false;
    }
  }

  #store(nodeId: string, state: HealthState): void {
    this.#states.set(nodeId, state);
    this.#storage.kv.put(HEALTH_PREFIX + nodeId, state);
  }
}
