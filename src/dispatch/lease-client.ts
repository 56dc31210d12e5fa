import { type LeaseAnswer, LeaseSlots } from "../balancer/lease-slots.ts";
import type { MemberNode } from "../balancer/membership.ts";
import type { ResolvedService } from "../config/load.ts";
import type { LeaseRequest } from "../durable/gate/node-gate.ts";
import type { Log } from "../logging/log.ts";
import type { Counters } from "./counters.ts";
import { gateCall } from "./gate-context.ts";

/** How the lease client reaches a node's gate; injected so tests can count and fail the calls. */
export type LeaseCall = (node: MemberNode, request: LeaseRequest) => Promise<LeaseAnswer>;

/** What one dispatch lends the lease client: the gate, the clock, and a way to run past it. */
export interface LeaseContext {
  readonly call: LeaseCall;
  /** Nodes the service has, for the coordinator's ejection cap. */
  readonly totalNodes: number;
  readonly now: () => number;
  /** Runs a promise past the response that started it (the execution context's waitUntil). */
  readonly background: (work: Promise<unknown>) => void;
}

// One id per isolate: the gates tell holders apart by it. A runtime serial is added per service
// runtime, so a configuration reload starts a new holder instead of inheriting the old slots.
// Drawn on first use: the Workers runtime refuses random values in global scope.
let isolateId: string | undefined;
let runtimes = 0;

/**
 * An isolate's leases of one service's nodes. A dispatch takes a leased slot when one is free,
 * sends the attempt itself, and gives the slot back at response headers; successes wait for the
 * next renewal, failures are reported at once so the gate's streak and ejection keep their count.
 */
export class LeaseClient {
  readonly holder: string;
  readonly #service: ResolvedService;
  readonly #slots = new Map<string, LeaseSlots>();
  readonly #counters: Counters;
  readonly #log: Log;

  constructor(service: ResolvedService, counters: Counters, log: Log) {
    this.#service = service;
    this.#counters = counters;
    this.#log = log;
    isolateId ??= crypto.randomUUID();
    this.holder = `${isolateId}:${++runtimes}`;
  }

  /** Whether the service leases at all: a limit of 1, lock scope global or `lease: false` never do. */
  get enabled(): boolean {
    const { gate, lockScope } = this.#service;
    return gate.lease && gate.limit > 1 && lockScope === "node";
  }

  /** The node's lease as this isolate holds it. */
  slotsOf(nodeId: string): LeaseSlots {
    let slots = this.#slots.get(nodeId);
    if (!slots) {
      slots = new LeaseSlots();
      this.#slots.set(nodeId, slots);
    }
    return slots;
  }

  /**
   * Makes the lease call due for the node: a first lease is awaited (this dispatch may then use
   * it), a renewal runs in the background. Answers true when a slot was taken for `holdMs`.
   */
  async take(node: MemberNode, holdMs: number, context: LeaseContext): Promise<boolean> {
    if (!this.enabled) return false;
    const slots = this.slotsOf(node.id);
    const reason = slots.due(context.now(), this.#service.gate.leaseTtlMs, this.#maxHoldMs());
    if (reason === "first") await this.#renew(node, context);
    else if (reason) context.background(this.#renew(node, context));
    return slots.tryTake(context.now(), holdMs);
  }

  /**
   * Reports a failed attempt on a leased slot at once and answers the ejection it caused, if
   * any. The call carries the successes before it, so the gate counts them in this order.
   */
  async reportFailure(node: MemberNode, context: LeaseContext): Promise<number | undefined> {
    const slots = this.slotsOf(node.id);
    const sentAt = context.now();
    try {
      this.#counters.gateLeaseCalls++;
      const want = slots.want(this.#service.gate.limit);
      const request = this.#request(node, context.totalNodes, slots.beginReport(), true, want);
      const answer = await context.call(node, request);
      slots.apply(answer, sentAt);
      if (answer.ejectedUntil !== undefined) slots.drop();
      return answer.ejectedUntil;
    } catch (error) {
      this.#counters.gateLeaseFailures++;
      this.#log.fault("warn", {
        event: "lease-failure",
        service: this.#service.name,
        node: node.id,
        reason: `failure report to the gate lost: ${String(error)}`,
      });
      return undefined;
    }
  }

  async #renew(node: MemberNode, context: LeaseContext): Promise<void> {
    const slots = this.slotsOf(node.id);
    const sentAt = context.now();
    const { want, report } = slots.beginCall(sentAt, this.#service.gate.limit);
    let answer: LeaseAnswer | undefined;
    try {
      this.#counters.gateLeaseCalls++;
      answer = await context.call(
        node,
        this.#request(node, context.totalNodes, report, false, want),
      );
    } catch (error) {
      // Without an answer the isolate goes on with what it holds until it ends; the dispatches
      // that find no slot go through the gate.
      this.#counters.gateLeaseFailures++;
      this.#log.fault("warn", {
        event: "lease-failure",
        service: this.#service.name,
        node: node.id,
        reason: `lease failed: ${String(error)}`,
      });
    }
    slots.endCall(answer, sentAt);
    if (answer?.ejectedUntil !== undefined) slots.drop();
  }

  #request(
    node: MemberNode,
    totalNodes: number,
    report: LeaseRequest["report"],
    failure: boolean,
    want: number,
  ): LeaseRequest {
    const service = this.#service;
    return {
      ...gateCall(service, node, totalNodes),
      holder: this.holder,
      want,
      report,
      ...(failure ? { failure } : {}),
      ttlMs: service.gate.leaseTtlMs,
    };
  }

  #maxHoldMs(): number {
    return Math.min(this.#service.retry.perTryTimeoutMs, this.#service.retry.deadlineMs);
  }
}
