import { Hono } from "hono";
import { problem } from "../http/problem.ts";
import type { GatewayEnv } from "./context.ts";
import { prepareBody } from "./proxy/body.ts";
import { dispatch } from "./proxy/dispatch.ts";
import { requestIdFor, upstreamHeaders } from "./proxy/headers.ts";
import { runtimeFor } from "./proxy/service-runtime.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `ANY /s/{service}/{path…}`: forwards the request to one node of the service. */
export const proxyRoutes = new Hono<GatewayEnv>().all("/:service/*", async (c) => {
  const name = c.req.param("service");
  const service = c.get("config").get(name);
  if (!service) {
    return problem(404, "unknown-service", "Unknown service", `no service named "${name}"`);
  }
  const url = new URL(c.req.url);
  // Slice the raw path rather than re-encode a decoded one, so the node sees the client's bytes.
  const pathAndQuery = url.pathname.slice(`/s/${name}`.length) + url.search || "/";
  const requestId = requestIdFor(c.req.raw.headers);
  const body = await prepareBody(
    c.req.raw,
    service.retry.maxAttempts > 1 ? service.retry.maxReplayBodyBytes : 0,
  );
  const method = c.req.method;
  const headers = upstreamHeaders(
    c.req.raw.headers,
    {
      ip: c.req.header("cf-connecting-ip") ?? null,
      proto: url.protocol.slice(0, -1),
      host: url.host,
    },
    requestId,
  );
  return dispatch(
    {
      method,
      pathAndQuery: pathAndQuery.startsWith("/") ? pathAndQuery : `/${pathAndQuery}`,
      headers,
      body,
      requestId,
      traits: {
        method,
        hasIdempotencyKey: c.req.raw.headers.has("idempotency-key"),
        replayable: body.replayable,
      },
    },
    { env: c.env, runtime: runtimeFor(service), now: Date.now, sleep, random: Math.random },
  );
});
