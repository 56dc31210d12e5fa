import type { MiddlewareHandler } from "hono";
import { problem } from "../http/problem.ts";
import type { GatewayEnv } from "./context.ts";

/** The Alternator-style node list, which applications read on the gateway's own hostnames too. */
export const LOCALNODES_PATH = /^\/_gw\/services\/[^/]+\/localnodes$/;

/**
 * Keeps the admin surface (dashboard, admin API, metrics, stats) and the proxied traffic on
 * separate origins when the configuration names an `adminHost`. Cookies and same-origin fetches
 * are scoped by origin, so this, not any header check, is what stops a page a node serves under
 * `/s/…` from reading the dashboard with the operator's session. Runs after the peer endpoints and
 * after `/_gw/health`, which answer on every host.
 */
export const adminHostBoundary: MiddlewareHandler<GatewayEnv> = async (c, next) => {
  const adminHost = c.get("adminHost");
  if (adminHost === undefined) return next();
  const path = c.req.path;
  if (LOCALNODES_PATH.test(path)) return next();
  const onAdminHost = new URL(c.req.url).hostname === adminHost;
  const adminPath = path === "/_gw" || path.startsWith("/_gw/");
  if (onAdminHost === adminPath) return next();
  return problem({
    status: 404,
    type: "not-found",
    title: "Not found",
    detail: onAdminHost
      ? "this is the admin hostname: proxied requests and invocations go to the gateway's other hostnames"
      : "the admin API and dashboard answer on the admin hostname only",
  });
};
