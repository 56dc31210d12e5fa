import { LeastOutstandingPlan, type NodePlan } from "../../balancer/least-outstanding.ts";
import type { MemberNode } from "../../balancer/membership.ts";
import { QueryPlan } from "../../balancer/query-plan.ts";
import {
  type AttemptOutcome,
  backoffMs,
  type RequestTraits,
  shouldRetry,
} from "../../balancer/retry-policy.ts";
import type { ScopeLevel } from "../../balancer/scope.ts";
import type { ResolvedService } from "../../config/load.ts";
import type { ForwardResult } from "../../durable/node-gate.ts";
import { problem } from "../../http/problem.ts";
import type { AttemptBody, OutgoingBody } from "./body.ts";
import { counters } from "./counters.ts";
import { type HeaderPair, withProvenance } from "./headers.ts";
import type { ServiceObjects, ServiceRuntime } from "./service-runtime.ts";

/** The request as every attempt sends it, minus the node's origin. */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query below the service prefix, starting with "/". */
  readonly pathAndQuery: string;
  readonly headers: HeaderPair[];
  readonly body: OutgoingBody;
  readonly requestId: string;
  readonly traits: RequestTraits;
  /** Scope levels to route in, nearest first. */
  readonly chain: readonly ScopeLevel[];
}

/** Runtime pieces the dispatch loop needs; injected so the loop stays testable. */
export interface DispatchDeps {
  readonly env: Env;
  readonly runtime: ServiceRuntime;
  readonly objects: ServiceObjects;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
}

/**
 * Sends a request to the service: one rotation position, then the query plan's nodes in order
 * while the retry policy allows, each attempt through the node's gate. Answers with the node's
 * response (headers cleaned, provenance added) or a problem document saying why none came.
 */
export async function dispatch(request: UpstreamRequest, deps: DispatchDeps): Promise<Response> {
  const { env, runtime } = deps;
  const service = runtime.service;
  const policy = service.retry;
  const started = deps.now();
  const deadline = started + policy.deadlineMs;
  counters.dispatches++;

  const plan = await planFor(request.chain, deps);
  const state: DispatchState = { attempts: 0, last: undefined, detail: "", stop: "exhausted" };
  let nodeId = plan.next();

  while (nodeId !== undefined) {
    const node = runtime.node(nodeId) as MemberNode;
    const panic = runtime.route(request.chain, deps.now()).selection.panic;
    const remaining = deadline - deps.now();
    const body = remaining > 0 ? request.body.take() : undefined;
    if (body === undefined) {
      // Past the deadline, or a one-shot body was spent on an attempt that never left.
      state.stop = remaining > 0 ? "not-retryable" : "deadline";
      break;
    }
    const end = runtime.begin(node.id);
    const sentAt = deps.now();
    const result = await forwardThroughGate(env, service, node, request, body, remaining, {
      panic,
      totalNodes: runtime.knownCount,
    });
    end(
      result.kind === "response" || result.kind === "timeout" ? deps.now() - sentAt : undefined,
      deps.now(),
    );
    if (result.ejectedUntil) runtime.markEjected(node.id, result.ejectedUntil);
    const outcome = outcomeOf(result);
    if (outcome.kind !== "not-sent") state.attempts++;
    state.last = outcome;
    state.detail = "detail" in result ? result.detail : "";

    let nextId: string | undefined;
    if (!shouldRetry(outcome, request.traits, policy)) state.stop = "not-retryable";
    else if (state.attempts >= policy.maxAttempts)
      state.stop = plan.hasNext() ? "attempts" : "exhausted";
    else nextId = plan.next();

    if (result.kind === "response") {
      // The last answer stands when there is nowhere left to go, as with Envoy and NGINX.
      if (nextId === undefined) return finish(result, node.id, state.attempts, request.requestId);
      await result.response?.body?.cancel();
    }
    if (outcome.kind !== "not-sent" && nextId !== undefined) {
      const pause = Math.min(backoffMs(state.attempts, policy, deps.random), deadline - deps.now());
      if (pause > 0) await deps.sleep(pause);
    }
    nodeId = nextId;
  }
  return failure(state, plan.triedNodes, request.requestId, deadline <= deps.now());
}

/** The order of nodes for one dispatch, by the service's policy. */
export async function planFor(chain: readonly ScopeLevel[], deps: DispatchDeps): Promise<NodePlan> {
  const { runtime } = deps;
  const route = () => runtime.route(chain, deps.now()).schedule;
  if (runtime.service.policy === "least_outstanding") {
    await runtime.refresh(deps.objects, chain, deps.now());
    return new LeastOutstandingPlan(route, (id) => runtime.outstanding(id), deps.random);
  }
  const [position] = await Promise.all([
    runtime.nextPosition(deps.objects),
    runtime.refresh(deps.objects, chain, deps.now()),
  ]);
  return new QueryPlan(position, route, (id) => runtime.admits(id, deps.now(), deps.random));
}

/** Why and how a dispatch ended without a response to pass on. */
interface DispatchState {
  attempts: number;
  last: AttemptOutcome | undefined;
  detail: string;
  /** exhausted: every routable node tried; attempts: the cap was hit; others as named. */
  stop: "exhausted" | "attempts" | "not-retryable" | "deadline";
}

/** Facts of the moment the gate needs beside the request. */
interface GateContext {
  /** The scope is in panic: the gate must not refuse an ejected node. */
  readonly panic: boolean;
  /** Nodes the service has, for the share cap on ejections. */
  readonly totalNodes: number;
}

async function forwardThroughGate(
  env: Env,
  service: ResolvedService,
  node: MemberNode,
  request: UpstreamRequest,
  body: AttemptBody,
  remaining: number,
  context: GateContext,
): Promise<ForwardResult> {
  try {
    const gate = gateFor(env, service, node);
    counters.gateCalls++;
    const upstream = {
      url: joinUrl(node.url, request.pathAndQuery),
      method: request.method,
      headers: request.headers,
      body,
    };
    return await gate.forward(upstream, {
      service: service.name,
      nodeId: node.id,
      gateLimit: service.gate.limit,
      queueTimeoutMs: remaining,
      perTryTimeoutMs: Math.min(service.retry.perTryTimeoutMs, remaining),
      ejection: service.ejection,
      totalNodes: context.totalNodes,
      ignoreEjection: context.panic,
      ...(service.gatewayId === undefined ? {} : { gatewayId: service.gatewayId }),
    });
  } catch (error) {
    // The gate object itself failed (overloaded, reset, or its code threw). Whether it had already
    // sent the request is unknown, so this counts as a network error: retried only when safe.
    return { kind: "network-error", detail: `node gate unavailable: ${String(error)}` };
  }
}

/** The gate a node's traffic passes: its own, or the service's single one under lock scope global. */
export function gateFor(env: Env, service: ResolvedService, node: MemberNode) {
  const name =
    service.lockScope === "global" ? `${service.name}#global` : `${service.name}/${node.id}`;
  const hint = node.locationHint
    ? { locationHint: node.locationHint as DurableObjectLocationHint }
    : undefined;
  return env.NODE_GATE.get(gateId(env.NODE_GATE, name), hint);
}

// Deriving an id from a name hashes it on every call; the ids of the gates an isolate dispatches
// to are few and never change, so each is derived once. Keyed by namespace, since an id is only
// valid with the namespace that made it.
const gateIds = new WeakMap<DurableObjectNamespace, Map<string, DurableObjectId>>();
const MAX_CACHED_GATE_IDS = 10_000;

function gateId(namespace: DurableObjectNamespace, name: string): DurableObjectId {
  let ids = gateIds.get(namespace);
  if (!ids) {
    ids = new Map();
    gateIds.set(namespace, ids);
  }
  let id = ids.get(name);
  if (!id) {
    // Discovery can churn node ids without end; start over rather than grow without bound.
    if (ids.size >= MAX_CACHED_GATE_IDS) ids.clear();
    id = namespace.idFromName(name);
    ids.set(name, id);
  }
  return id;
}

function statusOf(result: ForwardResult & { kind: "response" }): number {
  return result.buffered?.status ?? result.response?.status ?? 502;
}

function outcomeOf(result: ForwardResult): AttemptOutcome {
  if (result.kind === "response") return { kind: "response", status: statusOf(result) };
  return { kind: result.kind };
}

/** The node's URL with the request's path below it (a path in the node's URL is a prefix). */
export function joinUrl(nodeUrl: string, pathAndQuery: string): string {
  return nodeUrl.endsWith("/") ? nodeUrl + pathAndQuery.slice(1) : nodeUrl + pathAndQuery;
}

/** The node's answer as the client gets it: end-to-end headers, provenance added. */
function finish(
  result: ForwardResult & { kind: "response" },
  nodeId: string,
  attempts: number,
  requestId: string,
): Response {
  const b = result.buffered;
  if (b) {
    const pairs = b.headers.map((h): HeaderPair => [h.name, h.value]);
    return new Response(b.body, {
      status: b.status,
      statusText: b.statusText,
      headers: withProvenance(pairs, nodeId, attempts, requestId),
    });
  }
  const response = result.response as Response;
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: withProvenance([...response.headers], nodeId, attempts, requestId),
  });
}

function failure(
  state: DispatchState,
  tried: string[],
  requestId: string,
  pastDeadline: boolean,
): Response {
  const headers = { "x-roundhouse-attempts": String(state.attempts), "x-request-id": requestId };
  const extensions = { tried, attempts: state.attempts, requestId };
  if (state.last?.kind === "timeout" || state.stop === "deadline" || pastDeadline) {
    const detail = state.detail || "the dispatch deadline passed";
    return problem(504, "upstream-timeout", "Upstream timed out", detail, extensions, headers);
  }
  if (state.stop !== "exhausted" && state.last?.kind === "network-error") {
    return problem(
      502,
      "upstream-error",
      "Upstream connection failed",
      state.detail,
      extensions,
      headers,
    );
  }
  const detail = tried.length
    ? `every routable node failed: ${tried.join(", ")}`
    : "the service has no routable node";
  return problem(503, "no-node-available", "No node available", detail, extensions, headers);
}
