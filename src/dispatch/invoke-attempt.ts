import type { ScopeLevel } from "../balancer/scope.ts";
import type { InvokeSettings } from "../config/schema.ts";
import type { InvokeOutcome } from "../durable/gate/invoke.ts";
import type { InvokePayload } from "../durable/gate/node-gate.ts";
import { gateOf } from "../durable/stubs.ts";
import { type ProblemType, problem } from "../http/problem.ts";
import {
  type AttemptKind,
  type DispatchEnd,
  type Dispatched,
  runAttempts,
} from "./attempt-loop.ts";
import type { DispatchDeps } from "./deps.ts";
import { gateCall } from "./gate-context.ts";

/** One invocation as the route hands it over. */
export interface Invocation {
  readonly payload: InvokePayload;
  readonly chain: readonly ScopeLevel[];
  readonly requestId: string;
  /** The invocation's key under `policy: "consistent_hash"`. */
  readonly hashKey?: string | undefined;
  /** The service's invocation settings (it has some: the route checked). */
  readonly settings: InvokeSettings;
}

/**
 * Sends an invocation to one node of the service over the node's stream. It goes to another node
 * only while no node has accepted it (never sent, or not acked): once a node acks, the function
 * may have run, so a later failure is answered 502 and never repeated elsewhere, unless the ack
 * declared the function idempotent and the stream was lost under it. Invocations stay
 * on the gate path, since the stream they travel on is held by the node's gate.
 */
export function dispatchInvocation(
  invocation: Invocation,
  deps: DispatchDeps,
): Promise<Dispatched> {
  const { runtime, env } = deps;
  const service = runtime.service;
  const kind: AttemptKind<InvokeOutcome> = {
    deadlineMs: invocation.settings.timeoutMs,
    retry: service.retry,
    hashKey: invocation.hashKey,
    run(node, remaining, panic) {
      deps.runtime.counters.gateCalls++;
      return gateOf(env, service, node)
        .invoke(invocation.payload, {
          ...gateCall(service, node, runtime.listedCount),
          nodeUrl: node.url,
          queueTimeoutMs: remaining,
          deadlineMs: remaining,
          ignoreEjection: panic,
          egress: service.egress,
          stream: {
            queueCapacity: invocation.settings.queueCapacity,
            window: invocation.settings.window,
          },
        })
        .catch(
          (error: unknown): InvokeOutcome => ({
            kind: "lost-after-ack",
            detail: `node gate failed: ${String(error)}`,
            retryable: false,
          }),
        );
    },
    judge(outcome) {
      const again =
        outcome.kind === "not-sent" ||
        outcome.kind === "not-acked" ||
        (outcome.kind === "lost-after-ack" && outcome.retryable);
      return {
        // Once a node acked, the function may have run: its result, or its loss, is final,
        // unless the node's ack declared the function idempotent.
        decision: again ? "retry" : "final",
        counted: outcome.kind !== "not-sent",
        measured: outcome.kind === "result",
        ejectedUntil: "ejectedUntil" in outcome ? outcome.ejectedUntil : undefined,
        outcome:
          outcome.kind === "not-sent" || outcome.kind === "busy"
            ? "not_sent"
            : outcome.kind === "timeout"
              ? "timeout"
              : outcome.kind === "not-acked" || outcome.kind === "lost-after-ack"
                ? "network_error"
                : "response",
        failed: ["not-acked", "lost-after-ack", "timeout"].includes(outcome.kind),
      };
    },
    discard: async () => {},
    answer: (outcome, nodeId, attempts) =>
      answer(
        outcome,
        service.provenance === "headers" ? nodeId : undefined,
        attempts,
        invocation.requestId,
        [],
      ),
    causeOf: (outcome) =>
      outcome.kind === "lost-after-ack" || outcome.kind === "not-acked"
        ? outcome.detail
        : undefined,
    fail: (end: DispatchEnd<InvokeOutcome>) =>
      answer(
        end.last,
        undefined,
        end.attempts,
        invocation.requestId,
        end.attempted,
        end.pastDeadline,
      ),
  };
  return runAttempts(kind, invocation.chain, deps);
}

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * The invocation's answer, built here either way. A function's result carries the attempts,
 * request id and node only when the node is given (the service's `provenance: "headers"`); the
 * gateway's problems carry the attempts and request id always, and the node when given.
 */
function answer(
  outcome: InvokeOutcome | undefined,
  nodeId: string | undefined,
  attempts: number,
  requestId: string,
  tried: string[],
  pastDeadline = false,
): Response {
  const provenance: Record<string, string> = {
    "x-roundhouse-attempts": String(attempts),
    "x-request-id": requestId,
  };
  if (nodeId) provenance["x-roundhouse-node"] = nodeId;
  const extensions = { tried, attempts, requestId };
  const fail = (status: number, type: ProblemType, title: string, detail: string) =>
    problem({ status, type, title, detail, extensions, headers: provenance });
  switch (outcome?.kind) {
    case "result": {
      if (outcome.status < 200 || outcome.status > 599) {
        return fail(
          502,
          "upstream-error",
          "Function answered an invalid status",
          `status ${outcome.status}`,
        );
      }
      // 204, 205 and 304 carry no body (a Response with one throws): the status passes, the body not.
      const empty = NULL_BODY_STATUSES.has(outcome.status);
      // The function's own answer carries provenance only when the service asks for it.
      const headers: Record<string, string> = nodeId === undefined ? {} : { ...provenance };
      if (outcome.contentType && !empty) headers["content-type"] = outcome.contentType;
      return new Response(empty ? null : outcome.body, { status: outcome.status, headers });
    }
    case "function-error":
      return fail(502, "upstream-error", "Function failed", outcome.message);
    case "lost-after-ack":
      // The transport's own words about the stream go to the log line only (causeOf).
      return fail(
        502,
        "upstream-error",
        "Stream lost after the node accepted the invocation",
        "the node's connection failed after it accepted; the invocation may have run",
      );
    case "busy": {
      provenance["retry-after"] = String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000)));
      return fail(503, "no-node-available", "Node busy", "the node's stream queue is full");
    }
    case "timeout":
      return fail(504, "upstream-timeout", "Invocation timed out", "no result before the deadline");
    default:
      if (pastDeadline) {
        return fail(504, "upstream-timeout", "Invocation timed out", "no node accepted it in time");
      }
      return fail(
        503,
        "no-node-available",
        "No node available",
        tried.length
          ? `no node accepted the invocation: ${tried.join(", ")}`
          : "the service has no routable node",
      );
  }
}
