import { Hono } from "hono";
import { z } from "zod";
import { streamBenchOf } from "../durable/stubs.ts";
import { invalidRequest, problem } from "../http/problem.ts";
import { adminAuth } from "./admin-auth.ts";
import type { GatewayEnv } from "./context.ts";

const StreamBenchBody = z.strictObject({
  service: z.string(),
  nodeId: z.string(),
  mode: z.enum(["sync", "async", "in-order"]),
  count: z.int().min(1).max(100_000),
  queueCapacity: z.int().min(1).max(65_536),
});

/**
 * Admin-only measurements run inside the gateway, for the benchmarks. Targets are limited to
 * configured nodes, so these cannot be aimed at arbitrary addresses.
 */
export const diagnosticsRoutes = new Hono<GatewayEnv>()
  .use("*", adminAuth)
  .post("/stream", async (c) => {
    const parsed = StreamBenchBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      return invalidRequest(
        parsed.error.issues.map((i) => ({
          path: i.path.join(".") || "(body)",
          message: i.message,
        })),
      );
    }
    const { service: name, nodeId, ...run } = parsed.data;
    const node = c.get("config").get(name)?.byId.get(nodeId);
    if (!node)
      return problem({
        status: 404,
        type: "not-found",
        title: "No such node",
        detail: `no configured node "${nodeId}" in "${name}"`,
      });
    // An object of its own, so the measurement neither queues behind nor disturbs real traffic.
    const bench = streamBenchOf(c.env, name, nodeId);
    return c.json(await bench.measure({ nodeUrl: node.url, ...run }));
  });
