import type { Context, MiddlewareHandler } from "hono";
import { problem } from "../http/problem.ts";

/**
 * The header the dashboard page's own fetch of its fragment sends. A page of another origin
 * cannot send it without a CORS preflight, which the gateway never grants; a page of the
 * gateway's own origin can (see docs/security.md).
 */
export const PAGE_HEADER = "x-roundhouse-dashboard";
/** The value the page sends in PAGE_HEADER. */
export const PAGE_HEADER_VALUE = "1";

// Methods a browser sends without changing anything; every other one must come from our origin.
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whether a request was sent by a page of another origin: its Origin is not the request's own,
 * or, where a browser sent no Origin, Sec-Fetch-Site says it came from another site or origin.
 * An Origin of `null` (a sandboxed frame, or a page whose referrer policy withholds its origin)
 * proves nothing, so only Sec-Fetch-Site: same-origin admits it. A client that is no browser sends
 * neither header, and is not refused for it: it has no cookie a page could have made it send.
 */
function fromAnotherOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  const site = request.headers.get("sec-fetch-site");
  if (origin === "null") return site !== "same-origin";
  if (origin !== null) return origin !== new URL(request.url).origin;
  return site !== null && site !== "same-origin" && site !== "none";
}

/**
 * Refuses a state-changing dashboard request from another origin (403), and marks every
 * dashboard response `Cache-Control: no-store`, so no shared or browser cache keeps a signed-in
 * page, a fragment or a redirect that set a session.
 */
export const dashboardGuard: MiddlewareHandler = async (c, next) => {
  if (!SAFE_METHODS.has(c.req.method) && fromAnotherOrigin(c.req.raw)) {
    return problem({
      status: 403,
      type: "forbidden",
      title: "Forbidden",
      detail: "a dashboard form must be sent from the dashboard's own origin",
    });
  }
  await next();
  c.res.headers.set("cache-control", "no-store");
  return undefined;
};

/** Whether a fragment read came from the dashboard page's own script (PAGE_HEADER). */
export function fromDashboardPage(c: Context): boolean {
  return c.req.header(PAGE_HEADER) === PAGE_HEADER_VALUE;
}
