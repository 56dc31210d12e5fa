import { Hono } from "hono";
import { loadConfig } from "../config/load.ts";
import { counters } from "../dispatch/counters.ts";

/** `GET /_gw/health`: whether the configuration is usable, and if not, every reason why. */
export const healthRoutes = new Hono<{ Bindings: Env }>()
  .get("/health", (c) => {
    const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
    if (!config.ok) {
      return c.json({ status: "bad-config", issues: config.issues }, 503);
    }
    return c.json({ status: "ok", services: [...config.services.keys()] });
  })
  // Round-trip counters of this isolate, read by the dispatch benchmark and the tests.
  .get("/stats", (c) => c.json(counters));
