import { type Context, Hono } from "hono";
import { preferredScope, scopeChain } from "../balancer/scope.ts";
import { dispatchDeps } from "../dispatch/deps.ts";
import { requestIdFor } from "../dispatch/headers.ts";
import { dispatchInvocation } from "../dispatch/invoke-attempt.ts";
import { readLimited } from "../http/limited-body.ts";
import { problem } from "../http/problem.ts";
import { FUNCTION_NAME, MAX_FUNCTION_NAME } from "../transport/protocol.ts";
import { contentTypeProblem } from "../transport/typed-body.ts";
import type { GatewayEnv } from "./context.ts";
import { hashKeyOf } from "./hash-key.ts";
import { logRequest } from "./request-log.ts";

/**
 * `POST /v1/invoke/{service}/{function}` runs the node's function of that name, and
 * `POST /v1/invoke/{service}` its default function, on one node over the node's stream.
 */
export const invokeRoutes = new Hono<GatewayEnv>()
  .post("/:service", (c) => invoke(c, undefined))
  .post("/:service/:function", (c) => invoke(c, c.req.param("function")));

async function invoke(c: Context<GatewayEnv>, fn: string | undefined): Promise<Response> {
  const startedAt = Date.now();
  const name = c.req.param("service") as string;
  const service = c.get("config").get(name);
  if (!service)
    return problem({
      status: 404,
      type: "unknown-service",
      title: "Unknown service",
      detail: `no service named "${name}"`,
    });
  if (fn !== undefined && !FUNCTION_NAME.test(fn)) {
    return problem({
      status: 400,
      type: "bad-request",
      title: "Invalid function name",
      detail: `a function name is 1 to ${MAX_FUNCTION_NAME} of A-Z a-z 0-9 _ . -, starting with a letter or digit`,
    });
  }
  const settings = service.invoke;
  if (!settings) {
    return problem({
      status: 501,
      type: "invoke-unavailable",
      title: "Invocations unavailable",
      detail:
        `"${name}" reaches its nodes through a VPC binding, which carries HTTP fetch() but no ` +
        "WebSocket, and invocations travel on a WebSocket per node; proxy HTTP requests instead",
    });
  }
  const limit = settings.maxPayloadBytes;
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > limit) return tooLarge(limit);
  // Counted while it streams and cut off at the service's own limit (Hono's bodyLimit takes one
  // fixed limit for a route; this one is per service), so a chunked upload without a length is
  // never held in memory beyond it.
  const read = await readLimited(c.req.raw.body, limit);
  if (!read.ok) return tooLarge(limit);
  const body = read.bytes;
  const contentType = c.req.header("content-type") ?? "application/octet-stream";
  const unframable = contentTypeProblem(contentType);
  if (unframable) {
    // Refused before anything is sent: the stream protocol could not carry it to any node.
    return problem({
      status: 415,
      type: "unsupported-media-type",
      title: "Content-Type cannot be carried",
      detail: unframable,
    });
  }
  const cf = c.req.raw.cf as { continent?: string; colo?: string } | undefined;
  const chain = scopeChain(preferredScope(service.scope, cf, undefined), service.scope.fallback);
  const requestId = requestIdFor(c.req.raw.headers);
  const dispatched = await dispatchInvocation(
    {
      payload: fn === undefined ? { body, contentType } : { body, contentType, function: fn },
      chain,
      hashKey: hashKeyOf(c, service, undefined),
      requestId,
      settings,
    },
    dispatchDeps(c.env, service, (work) => c.executionCtx.waitUntil(work)),
  );
  await logRequest("invocation", service, requestId, startedAt, dispatched);
  return dispatched.response;
}

function tooLarge(limit: number): Response {
  return problem({
    status: 413,
    type: "payload-too-large",
    title: "Payload too large",
    detail: `invocations are limited to ${limit} bytes`,
  });
}
