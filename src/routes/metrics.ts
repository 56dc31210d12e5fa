import { Hono } from "hono";
import { CONTENT_TYPE, render } from "../metrics/exposition.ts";
import { metricsAuth } from "./admin-auth.ts";
import type { GatewayEnv } from "./context.ts";
import { collect } from "./metrics-collect.ts";

/** `GET /_gw/metrics`: every service's metrics in the Prometheus text format (docs/metrics.md). */
export const metricsRoutes = new Hono<GatewayEnv>().get("/", metricsAuth, async (c) => {
  const families = await collect(c.env, c.get("config").values(), c.get("sync"));
  return c.body(render(families), 200, { "content-type": CONTENT_TYPE });
});
