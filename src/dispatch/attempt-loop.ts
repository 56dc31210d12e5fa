import { LeastOutstandingPlan, type NodePlan } from "../balancer/least-outstanding.ts";
import type { MemberNode } from "../balancer/membership.ts";
import { QueryPlan } from "../balancer/query-plan.ts";
import { backoffMs, type RetryPolicy } from "../balancer/retry-policy.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import { counters } from "./counters.ts";
import type { DispatchDeps } from "./deps.ts";

/** What the loop needs to know of how one attempt ended. */
export interface Verdict {
  /** The attempt reached, or may have reached, a node: it counts toward `maxAttempts`. */
  readonly counted: boolean;
  /** Another node may be tried after this one. */
  readonly retryable: boolean;
  /** The result can stand as the answer when no other node is tried. */
  readonly answer: boolean;
  /** The attempt's handshake time is a latency sample. */
  readonly measured: boolean;
  readonly ejectedUntil?: number | undefined;
}

/** Why and how a dispatch ended without an answer to pass on. */
export interface DispatchEnd<R> {
  readonly last: R | undefined;
  readonly attempts: number;
  /** Nodes an attempt was started at, in order (a node picked after the deadline is not one). */
  readonly attempted: string[];
  /** exhausted: every routable node tried; attempts: the cap was hit; others as named. */
  readonly stop: "exhausted" | "attempts" | "not-retryable" | "deadline";
  readonly pastDeadline: boolean;
}

/** One kind of attempt (a proxied request, an invocation) as the loop drives it. */
export interface AttemptKind<R> {
  /** Time the whole dispatch may take. */
  readonly deadlineMs: number;
  /** The service's retry settings: attempt cap and backoff. */
  readonly retry: RetryPolicy;
  /** Runs one attempt; undefined when it cannot start (a one-shot body was spent). */
  run(node: MemberNode, remainingMs: number, panic: boolean): Promise<R> | undefined;
  judge(result: R): Verdict;
  /** Lets go of a result that will not be the answer (cancels its body). */
  discard(result: R): Promise<void>;
  answer(result: R, nodeId: string, attempts: number): Response;
  fail(end: DispatchEnd<R>): Response;
}

/**
 * The one attempt loop: a plan of nodes in the service's order, then one node after another
 * while the verdicts allow, each new node untried, within the attempt cap and the deadline, with
 * backoff between attempts that reached a node. The last answer stands when there is nowhere
 * left to go, as with Envoy and NGINX.
 */
export async function runAttempts<R>(
  kind: AttemptKind<R>,
  chain: readonly ScopeLevel[],
  deps: DispatchDeps,
): Promise<Response> {
  const { runtime } = deps;
  const deadline = deps.now() + kind.deadlineMs;
  counters.dispatches++;
  const plan = await planFor(chain, deps);
  let attempts = 0;
  const attempted: string[] = [];
  let last: R | undefined;
  let stop: DispatchEnd<R>["stop"] = "exhausted";
  let nodeId = plan.next();

  while (nodeId !== undefined) {
    const remaining = deadline - deps.now();
    if (remaining <= 0) {
      stop = "deadline";
      break;
    }
    const node = runtime.node(nodeId) as MemberNode;
    const panic = runtime.route(chain, deps.now()).selection.panic;
    const end = runtime.begin(node.id);
    const sentAt = deps.now();
    const pending = kind.run(node, remaining, panic);
    if (pending === undefined) {
      end(undefined, deps.now());
      stop = "not-retryable";
      break;
    }
    attempted.push(node.id);
    const result = await pending;
    const verdict = kind.judge(result);
    end(verdict.measured ? deps.now() - sentAt : undefined, deps.now());
    if (verdict.ejectedUntil) runtime.membership.markEjected(node.id, verdict.ejectedUntil);
    if (verdict.counted) attempts++;
    last = result;

    let nextId: string | undefined;
    if (!verdict.retryable) stop = "not-retryable";
    else if (attempts >= kind.retry.maxAttempts) stop = plan.hasNext() ? "attempts" : "exhausted";
    else nextId = plan.next();

    if (verdict.answer) {
      if (nextId === undefined) return kind.answer(result, node.id, attempts);
      await kind.discard(result);
    }
    if (verdict.counted && nextId !== undefined) {
      const pause = Math.min(backoffMs(attempts, kind.retry, deps.random), deadline - deps.now());
      if (pause > 0) await deps.sleep(pause);
    }
    nodeId = nextId;
  }
  return kind.fail({
    last,
    attempts,
    attempted,
    stop,
    pastDeadline: deadline <= deps.now(),
  });
}

/** The order of nodes for one dispatch, by the service's policy. */
export async function planFor(chain: readonly ScopeLevel[], deps: DispatchDeps): Promise<NodePlan> {
  const { runtime } = deps;
  const route = (tried: ReadonlySet<string>) => runtime.route(chain, deps.now(), tried).schedule;
  if (runtime.service.policy === "least_outstanding") {
    await runtime.refresh(deps.objects, chain, deps.now());
    return new LeastOutstandingPlan(route, (id) => runtime.latency.outstanding(id), deps.random);
  }
  const [position] = await Promise.all([
    runtime.nextPosition(deps.objects, deps.random, deps.now),
    runtime.refresh(deps.objects, chain, deps.now()),
  ]);
  return new QueryPlan(position, route, (id) =>
    runtime.membership.admits(id, deps.now(), deps.random),
  );
}
