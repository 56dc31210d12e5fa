import type { MemberNode } from "../balancer/membership.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import type { InvokeOutcome } from "../durable/gate-invoke.ts";
import type { InvokePayload } from "../durable/node-gate.ts";
import { problem } from "../http/problem.ts";
import { counters } from "./proxy/counters.ts";
import { type DispatchDeps, gateFor, planFor } from "./proxy/dispatch.ts";

/** One invocation as the route hands it over. */
export interface Invocation {
  readonly payload: InvokePayload;
  readonly chain: readonly ScopeLevel[];
  readonly requestId: string;
}

/**
 * Sends an invocation to one node of the service over the node's stream. It goes to another node
 * only while no node has accepted it (never sent, or not acked): once a node acks, the function
 * may have run, so a later failure is answered 502 and never repeated elsewhere.
 */
export async function dispatchInvocation(
  invocation: Invocation,
  deps: DispatchDeps,
): Promise<Response> {
  const { runtime, env } = deps;
  const service = runtime.service;
  const deadline = deps.now() + service.invoke.timeoutMs;
  counters.dispatches++;
  const plan = await planFor(invocation.chain, deps);
  let attempts = 0;
  let last: InvokeOutcome | undefined;
  for (let nodeId = plan.next(); nodeId !== undefined; nodeId = plan.next()) {
    const remaining = deadline - deps.now();
    if (remaining <= 0 || attempts >= service.retry.maxAttempts) break;
    const node = runtime.node(nodeId) as MemberNode;
    const panic = runtime.route(invocation.chain, deps.now()).selection.panic;
    counters.gateCalls++;
    const end = runtime.begin(node.id);
    const sentAt = deps.now();
    last = await gateFor(env, service, node)
      .invoke(invocation.payload, {
        service: service.name,
        nodeId: node.id,
        nodeUrl: node.url,
        gateLimit: service.gate.limit,
        queueTimeoutMs: remaining,
        deadlineMs: remaining,
        ejection: service.ejection,
        totalNodes: runtime.knownCount,
        ignoreEjection: panic,
        stream: { queueCapacity: service.invoke.queueCapacity, window: service.invoke.window },
      })
      .catch(
        (error: unknown): InvokeOutcome => ({
          kind: "lost-after-ack",
          detail: `node gate failed: ${String(error)}`,
        }),
      );
    end(last.kind === "result" ? deps.now() - sentAt : undefined, deps.now());
    if ("ejectedUntil" in last && last.ejectedUntil)
      runtime.markEjected(node.id, last.ejectedUntil);
    if (last.kind === "not-sent") continue;
    attempts++;
    if (last.kind === "not-acked") continue;
    return answer(last, node.id, attempts, invocation.requestId, plan.triedNodes);
  }
  return answer(
    last,
    undefined,
    attempts,
    invocation.requestId,
    plan.triedNodes,
    deadline <= deps.now(),
  );
}

function answer(
  outcome: InvokeOutcome | undefined,
  nodeId: string | undefined,
  attempts: number,
  requestId: string,
  tried: string[],
  pastDeadline = false,
): Response {
  const headers: Record<string, string> = {
    "x-roundhouse-attempts": String(attempts),
    "x-request-id": requestId,
  };
  if (nodeId) headers["x-roundhouse-node"] = nodeId;
  const extensions = { tried, attempts, requestId };
  switch (outcome?.kind) {
    case "result":
      if (outcome.contentType) headers["content-type"] = outcome.contentType;
      return new Response(outcome.body, { status: outcome.status, headers });
    case "function-error":
      return problem(
        502,
        "upstream-error",
        "Function failed",
        outcome.message,
        extensions,
        headers,
      );
    case "lost-after-ack":
      return problem(
        502,
        "upstream-error",
        "Stream lost after the node accepted the invocation",
        outcome.detail,
        extensions,
        headers,
      );
    case "busy": {
      const seconds = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
      return problem(
        503,
        "no-node-available",
        "Node busy",
        "the node's stream queue is full",
        extensions,
        {
          ...headers,
          "retry-after": String(seconds),
        },
      );
    }
    case "timeout":
      return problem(
        504,
        "upstream-timeout",
        "Invocation timed out",
        "no result before the deadline",
        extensions,
        headers,
      );
    default:
      if (pastDeadline) {
        return problem(
          504,
          "upstream-timeout",
          "Invocation timed out",
          "no node accepted it in time",
          extensions,
          headers,
        );
      }
      return problem(
        503,
        "no-node-available",
        "No node available",
        tried.length
          ? `no node accepted the invocation: ${tried.join(", ")}`
          : "the service has no routable node",
        extensions,
        headers,
      );
  }
}
