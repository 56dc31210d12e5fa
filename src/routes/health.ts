import { Hono } from "hono";
import { loadConfig } from "../config/load.ts";
import { cachedSecretIssues } from "../config/secrets.ts";
import { sumCounters } from "../dispatch/counters.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import { missingBinding } from "../upstream/egress.ts";
import { adminAuth, holdsAdminToken } from "./admin-auth.ts";
import { publicIssues } from "./config-issues.ts";

/**
 * `GET /_gw/health`: what a load balancer's health check needs, whether the configuration is usable
 * and every service can reach its nodes (its egress binding is bound). Anyone sees the status and,
 * for a bad configuration, the paths of the bad fields; the holder of the admin token also sees
 * the services, the missing bindings and each issue's message.
 */
export const healthRoutes = new Hono<{ Bindings: Env }>()
  .get("/health", async (c) => {
    const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
    const issues = config.ok ? cachedSecretIssues(c.env, config.services) : config.issues;
    const admin = await holdsAdminToken(c);
    if (!config.ok || issues.length > 0) {
      const shown = publicIssues(issues);
      return c.json({ status: "bad-config", issues: admin ? issues : shown }, 503);
    }
    const services = [...config.services.keys()];
    const unreachable = [...config.services.values()].flatMap((service) => {
      const binding = missingBinding(c.env, service.egress);
      return binding === undefined ? [] : [{ service: service.name, binding }];
    });
    if (unreachable.length > 0) {
      const status = "egress-unavailable";
      return c.json(admin ? { status, services, missingBindings: unreachable } : { status }, 503);
    }
    return c.json(admin ? { status: "ok", services } : { status: "ok" });
  })
  // Round-trip counters of this isolate over its services, read by the benchmarks and tests: how
  // the gateway is driven is the operator's to know, so they need the admin token.
  .use("/stats", adminAuth)
  .get("/stats", (c) => {
    const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
    const services = config.ok ? [...config.services.values()] : [];
    return c.json(sumCounters(services.map((service) => runtimeFor(service).counters)));
  });
