import { Hono } from "hono";
import { loadConfig } from "../config/load.ts";
import { cachedSecretIssues } from "../config/secrets.ts";
import { sumCounters } from "../dispatch/counters.ts";
import { missingBinding } from "../dispatch/egress.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";

/**
 * `GET /_gw/health`: whether the configuration is usable and every service can reach its nodes
 * (its egress binding is bound), and if not, every reason why.
 */
export const healthRoutes = new Hono<{ Bindings: Env }>()
  .get("/health", (c) => {
    const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
    const issues = config.ok ? cachedSecretIssues(c.env, config.services) : config.issues;
    if (!config.ok || issues.length > 0) return c.json({ status: "bad-config", issues }, 503);
    const services = [...config.services.keys()];
    const unreachable = [...config.services.values()].flatMap((service) => {
      const binding = missingBinding(c.env, service.egress);
      return binding === undefined ? [] : [{ service: service.name, binding }];
    });
    if (unreachable.length > 0) {
      return c.json({ status: "egress-unavailable", services, missingBindings: unreachable }, 503);
    }
    return c.json({ status: "ok", services });
  })
  // Round-trip counters of this isolate over its services, read by the benchmarks and tests.
  .get("/stats", (c) => {
    const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
    const services = config.ok ? [...config.services.values()] : [];
    return c.json(sumCounters(services.map((service) => runtimeFor(service).counters)));
  });
