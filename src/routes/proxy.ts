import { Hono } from "hono";
import {
  type PreferredScope,
  parseScopeHeader,
  preferredScope,
  scopeChain,
} from "../balancer/scope.ts";
import type { ResolvedService } from "../config/load.ts";
import { prepareBody } from "../dispatch/body.ts";
import { dispatchDeps } from "../dispatch/deps.ts";
import { requestIdFor, upstreamHeaders } from "../dispatch/headers.ts";
import { dispatch } from "../dispatch/http-attempt.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import { fail, problem } from "../http/problem.ts";
import { affinityNode, keepAffinity } from "./affinity.ts";
import type { GatewayEnv } from "./context.ts";
import { hashKeyOf } from "./hash-key.ts";
import { logRequest } from "./request-log.ts";

/**
 * The request's own scope, if the service lets requests choose one, narrowed to the places the
 * service knows; a malformed header is a 400.
 */
function requestedScope(
  service: ResolvedService,
  header: string | undefined,
): PreferredScope | undefined {
  if (!service.scope.allowHeader || header === undefined) return undefined;
  const parsed = parseScopeHeader(header);
  if (!parsed.ok) {
    fail(
      problem({
        status: 400,
        type: "bad-request",
        title: "Bad x-roundhouse-scope header",
        detail: parsed.reason,
      }),
    );
  }
  return runtimeFor(service).knownScope(parsed.scope);
}

/** `ANY /s/{service}/{path…}`: forwards the request to one node of the service. */
export const proxyRoutes = new Hono<GatewayEnv>().all("/:service/*", async (c) => {
  const startedAt = Date.now();
  const name = c.req.param("service");
  const service = c.get("config").get(name);
  if (!service) {
    return problem({
      status: 404,
      type: "unknown-service",
      title: "Unknown service",
      detail: `no service named "${name}"`,
    });
  }
  const requested = requestedScope(service, c.req.header("x-roundhouse-scope"));
  const cf = c.req.raw.cf as
    | { continent?: string; colo?: string; clientAcceptEncoding?: string }
    | undefined;
  const chain = scopeChain(preferredScope(service.scope, cf, requested), service.scope.fallback);

  const url = new URL(c.req.url);
  // Cut the raw path after its raw service segment (the name may arrive percent-encoded), rather
  // than re-encode a decoded one, so the node sees the client's bytes and nothing shifts.
  const afterPrefix = url.pathname.slice("/s/".length);
  const slash = afterPrefix.indexOf("/");
  const rest = slash < 0 ? "/" : afterPrefix.slice(slash);
  const requestId = requestIdFor(c.req.raw.headers);
  const body = await prepareBody(
    c.req.raw,
    service.retry.maxAttempts > 1 ? service.retry.maxReplayBodyBytes : 0,
  );
  const method = c.req.method;
  const pinned = await affinityNode(c, service);
  const headers = upstreamHeaders(
    c.req.raw.headers,
    {
      ip: c.req.header("cf-connecting-ip") ?? null,
      proto: url.protocol.slice(0, -1),
      host: url.host,
      acceptEncoding: cf?.clientAcceptEncoding,
    },
    requestId,
  );
  const dispatched = await dispatch(
    {
      method,
      pathAndQuery: rest + url.search,
      headers,
      body,
      requestId,
      chain,
      hashKey: hashKeyOf(c, service, rest),
      pinned,
      traits: {
        method,
        // An empty key names nothing, so it makes nothing safe to repeat.
        hasIdempotencyKey: (c.req.header("idempotency-key") ?? "").trim() !== "",
        replayable: body.replayable,
      },
    },
    dispatchDeps(c.env, service, (work) => c.executionCtx.waitUntil(work)),
  );
  await logRequest("request", service, requestId, startedAt, dispatched);
  return keepAffinity(c, service, pinned, dispatched);
});
