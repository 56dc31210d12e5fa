import type { MemberNode } from "../balancer/membership.ts";
import { isSafeToRepeat, type RequestTraits, shouldRetry } from "../balancer/retry-policy.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import { gateOf } from "../durable/stubs.ts";
import { problem } from "../http/problem.ts";
import type { AttemptOutcomeLabel } from "../metrics/dispatch-metrics.ts";
import { type ForwardResult, statusOf } from "../upstream/attempt-result.ts";
import { nodeFetcher } from "../upstream/egress.ts";
import { fetchNode, isFailureStatus, type NodeRequest } from "../upstream/node-fetch.ts";
import {
  type AttemptKind,
  type DispatchEnd,
  type Dispatched,
  runAttempts,
} from "./attempt-loop.ts";
import type { AttemptBody, OutgoingBody } from "./body.ts";
import type { DispatchDeps } from "./deps.ts";
import { gateCall } from "./gate-context.ts";
import { answerNeedsCleaning, type Provenance, stampAnswer } from "./headers.ts";
import type { Pin } from "./plan.ts";

/** The request as every attempt sends it, minus the node's origin. */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query below the service prefix, starting with "/". */
  readonly pathAndQuery: string;
  readonly headers: Headers;
  readonly body: OutgoingBody;
  readonly requestId: string;
  readonly traits: RequestTraits;
  /** Scope levels to route in, nearest first. */
  readonly chain: readonly ScopeLevel[];
  /** The request's key under `policy: "consistent_hash"`. */
  readonly hashKey?: string | undefined;
  /** The node the request's affinity cookie names, if valid. */
  readonly pinned?: Pin | undefined;
}

/**
 * Sends a request to the service and answers with the node's response (hop-by-hop headers out,
 * provenance added if the service asks for it) or a problem document saying why none came.
 */
export function dispatch(request: UpstreamRequest, deps: DispatchDeps): Promise<Dispatched> {
  return runAttempts(httpAttempts(request, deps), request.chain, deps);
}

function httpAttempts(request: UpstreamRequest, deps: DispatchDeps): AttemptKind<ForwardResult> {
  const retry = deps.runtime.service.retry;
  // Only a request that may be sent twice is hedged: the losing copy may have reached its node.
  const hedges = isSafeToRepeat(request.traits) && request.traits.replayable;
  return {
    deadlineMs: retry.deadlineMs,
    retry,
    hashKey: request.hashKey,
    pinned: request.pinned,
    hedgeAfterMs: () => (hedges ? deps.runtime.hedgeDelayMs() : undefined),
    run(node, remainingMs, panic, cancel) {
      const body = request.body.take();
      if (body === undefined) return undefined;
      return sendAttempt(node, request, body, { remainingMs, panic, cancel }, deps);
    },
    judge(result) {
      const outcome =
        result.kind === "response"
          ? { kind: "response" as const, status: statusOf(result) }
          : { kind: result.kind };
      const again = shouldRetry(outcome, request.traits, retry);
      const answered = result.kind === "response";
      return {
        decision: answered ? (again ? "fallback" : "final") : again ? "retry" : "stop",
        counted: result.kind !== "not-sent",
        measured: result.kind === "response" || result.kind === "timeout",
        ejectedUntil: result.ejectedUntil,
        outcome: outcomeLabel(result),
        failed:
          result.kind === "network-error" ||
          result.kind === "timeout" ||
          (result.kind === "response" && isFailureStatus(statusOf(result))),
      };
    },
    async discard(result) {
      if (result.kind === "response" && result.delivery === "streamed") {
        await result.response.body?.cancel();
      }
    },
    answer: (result, nodeId, attempts) =>
      finish(
        result as ForwardResult & { kind: "response" },
        deps.runtime.service.provenance === "headers"
          ? { nodeId, attempts, requestId: request.requestId }
          : undefined,
        deps.runtime.service.affinity?.cookie,
      ),
    fail: (end) => failure(end, request.requestId),
    causeOf: (result) => (result.kind === "network-error" ? result.detail : undefined),
  };
}

function outcomeLabel(result: ForwardResult): AttemptOutcomeLabel | undefined {
  switch (result.kind) {
    case "response":
      return "response";
    case "network-error":
      return "network_error";
    case "timeout":
      return "timeout";
    default:
      return result.reason === "cancelled" ? undefined : "not_sent";
  }
}

/** One attempt as either path sends it. */
interface Attempt {
  readonly node: MemberNode;
  readonly upstream: NodeRequest;
  /** Time left before the dispatch's deadline: the longest the gate's queue may hold it. */
  readonly remainingMs: number;
  /** Longest wait for response headers: the per-try timeout, cut short by the deadline. */
  readonly holdMs: number;
  /** The node's scope is in panic: send even if the node is ejected. */
  readonly panic: boolean;
}

/** How the loop sends one attempt. */
interface AttemptOptions {
  readonly remainingMs: number;
  readonly panic: boolean;
  /** Fires when another attempt's answer won: a fetch of this isolate's own is aborted. */
  readonly cancel: AbortSignal;
}

/**
 * One attempt at one node: on a leased slot, fetched from this isolate with no Durable Object
 * call; without a free slot, through the node's gate, which admits it in FIFO order. A gate call
 * cannot be aborted across RPC, so a cancelled attempt on that path runs to its response headers
 * and is then let go of.
 */
async function sendAttempt(
  node: MemberNode,
  request: UpstreamRequest,
  body: AttemptBody,
  { remainingMs, panic, cancel }: AttemptOptions,
  deps: DispatchDeps,
): Promise<ForwardResult> {
  const { runtime } = deps;
  const attempt: Attempt = {
    node,
    upstream: {
      url: joinUrl(node.url, request.pathAndQuery),
      method: request.method,
      headers: request.headers,
      body,
    },
    remainingMs,
    holdMs: Math.min(runtime.service.retry.perTryTimeoutMs, remainingMs),
    panic,
  };
  const leases = runtime.leases;
  // A streamed upload holds its slot for as long as it takes to send, which may outlast a lease's
  // grant; the gate, which counts its own slots, is where such a slot cannot be over-granted.
  if (!leases.enabled || body instanceof ReadableStream) return throughGate(attempt, deps);
  const slots = leases.slotsOf(node.id);
  slots.enter();
  try {
    const context = deps.leaseContext;
    if (!(await leases.take(node, attempt.holdMs, context))) {
      return await throughGate(attempt, deps);
    }
    deps.runtime.counters.directAttempts++;
    const sentAt = deps.now();
    const via = nodeFetcher(deps.env, runtime.service.egress);
    const sent = await fetchNode(via, attempt.upstream, {
      timeoutMs: attempt.holdMs,
      uploadLimitMs: attempt.remainingMs,
      cancel,
    });
    if (cancel.aborted && sent.kind !== "response") {
      // Cut short because another attempt won: no verdict on the node either way.
      slots.give(undefined);
      return { kind: "not-sent", reason: "cancelled" };
    }
    const failed = sent.kind !== "response" || isFailureStatus(sent.response.status);
    slots.give(failed ? undefined : { latencyMs: deps.now() - sentAt });
    const ejectedUntil = failed ? await leases.reportFailure(node, context) : undefined;
    if (sent.kind !== "response") return { kind: sent.kind, detail: sent.detail, ejectedUntil };
    return { kind: "response", delivery: "streamed", response: sent.response, ejectedUntil };
  } finally {
    slots.leave();
  }
}

async function throughGate(attempt: Attempt, deps: DispatchDeps): Promise<ForwardResult> {
  const { runtime } = deps;
  const service = runtime.service;
  try {
    deps.runtime.counters.gateCalls++;
    // Headers cross into the gate as [name, value] pairs, which RPC carries as plain data.
    const upstream = { ...attempt.upstream, headers: [...attempt.upstream.headers] };
    return await gateOf(deps.env, service, attempt.node).forward(upstream, {
      ...gateCall(service, attempt.node, runtime.listedCount),
      queueTimeoutMs: attempt.remainingMs,
      perTryTimeoutMs: attempt.holdMs,
      ignoreEjection: attempt.panic,
      egress: service.egress,
    });
  } catch (error) {
    // The gate object itself failed (overloaded, reset, or its code threw). Whether it had already
    // sent the request is unknown, so this counts as a network error: retried only when safe.
    return { kind: "network-error", detail: `node gate unavailable: ${String(error)}` };
  }
}

/** The node's URL with the request's path below it (a path in the node's URL is a prefix). */
function joinUrl(nodeUrl: string, pathAndQuery: string): string {
  return nodeUrl.endsWith("/") ? nodeUrl + pathAndQuery.slice(1) : nodeUrl + pathAndQuery;
}

/**
 * The node's answer as the client gets it: end-to-end headers only, provenance added when the
 * service asks for it. Without provenance, a fetched answer with nothing to drop beyond what the
 * runtime drops itself is returned as `fetch` gave it: workerd then sends it on natively, where
 * any rebuilt Response costs 10–20% of a request's CPU (docs/benchmarks.md, "Hot path").
 */
function finish(
  result: ForwardResult & { kind: "response" },
  provenance: Provenance | undefined,
  affinityCookie: string | undefined,
): Response {
  if (
    provenance === undefined &&
    result.delivery === "streamed" &&
    !answerNeedsCleaning(result.response.headers, affinityCookie)
  ) {
    return result.response;
  }
  // The body goes out exactly as the node encoded it: the runtime neither decodes nor re-encodes.
  const answer =
    result.delivery === "buffered"
      ? new Response(result.buffered.body, {
          status: result.buffered.status,
          statusText: result.buffered.statusText,
          headers: result.buffered.headers as [string, string][],
          encodeBody: "manual",
        })
      : // Built from the node's Response itself, whose status, headers and manual encoding the
        // runtime copies natively: measured, a field-by-field init cost 8% more CPU a request.
        new Response(result.response.body, result.response);
  stampAnswer(answer.headers, provenance, affinityCookie);
  return answer;
}

/** A failed connection to a node, as a problem document's `detail` says it. */
const NODE_CONNECTION_FAILED = "the node's connection failed";

function failure(end: DispatchEnd<ForwardResult>, requestId: string): Response {
  const { attempts, attempted: tried, last } = end;
  // The runtime's own error text (an address, how the connection failed) goes to the request's
  // log line only (causeOf); the client gets a fixed sentence. Timeouts' details are the
  // gateway's own words.
  const detail =
    last?.kind === "timeout"
      ? last.detail
      : last?.kind === "network-error"
        ? NODE_CONNECTION_FAILED
        : "";
  const headers = { "x-roundhouse-attempts": String(attempts), "x-request-id": requestId };
  const extensions = { tried, attempts, requestId };
  if (last?.kind === "timeout" || end.stop === "deadline" || end.pastDeadline) {
    return problem({
      status: 504,
      type: "upstream-timeout",
      title: "Upstream timed out",
      detail: detail || "the dispatch deadline passed",
      extensions,
      headers,
    });
  }
  if (end.stop !== "exhausted" && last?.kind === "network-error") {
    return problem({
      status: 502,
      type: "upstream-error",
      title: "Upstream connection failed",
      detail,
      extensions,
      headers,
    });
  }
  const why = tried.length
    ? `every routable node failed: ${tried.join(", ")}`
    : "the service has no routable node";
  return problem({
    status: 503,
    type: "no-node-available",
    title: "No node available",
    detail: why,
    extensions,
    headers,
  });
}
