import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { ScopeLevel } from "../balancer/scope.ts";
import { publicReads } from "../dispatch/deps.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import { peerShardOf } from "../durable/stubs.ts";
import { fail, invalidRequest, problem } from "../http/problem.ts";
import { adminAuth } from "./admin-auth.ts";
import { errors, lookup } from "./admin-common.ts";
import { LOCALNODES_PATH } from "./admin-host.ts";
import { nodeRoutes } from "./admin-nodes.ts";
import {
  LocalNodesQuery,
  NodeView,
  ServiceDetail,
  ServiceParam,
  ServiceSummary,
  SyncStatsView,
} from "./admin-schemas.ts";
import type { GatewayEnv } from "./context.ts";
import { onError } from "./on-error.ts";
import { address, detail, summary } from "./service-views.ts";
import { ensureSyncConfigured, routeSyncStub } from "./sync-runtime.ts";

/** Largest admin request body. */
const ADMIN_BODY_BYTES = 64 * 1024;

/** The documented admin and services API, under `/_gw`. */
export const adminRoutes = new OpenAPIHono<GatewayEnv>({
  // Validation failures become 400 problem documents naming the first bad field.
  defaultHook: (result) => {
    if (result.success) return;
    return invalidRequest(
      result.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })),
    );
  },
});

adminRoutes.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
  type: "http",
  scheme: "bearer",
});
// Every route here needs the admin token unless it is one of the few read-only ones listed as
// public: a route added later is protected without anyone having to remember it.
const PUBLIC_PATHS = [LOCALNODES_PATH, /^\/_gw\/openapi\.json$/];
adminRoutes.use("*", (c, next) =>
  PUBLIC_PATHS.some((path) => path.test(c.req.path)) ? next() : adminAuth(c, next),
);
// Admin bodies are small JSON documents; a larger one is refused while it streams.
adminRoutes.use(
  "/admin/*",
  bodyLimit({
    maxSize: ADMIN_BODY_BYTES,
    onError: () =>
      problem({
        status: 413,
        type: "payload-too-large",
        title: "Payload too large",
        detail: `at most ${ADMIN_BODY_BYTES} bytes`,
      }),
  }),
);

nodeRoutes(adminRoutes);

adminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/services",
    summary: "List services",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: "services",
        content: { "application/json": { schema: ServiceSummary.array() } },
      },
      ...errors(401),
    },
  }),
  (c) => c.json([...c.get("config").values()].map(summary), 200),
);

adminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/services/{service}",
    summary: "A service's nodes with scope, health, ejection and in-flight handshakes",
    security: [{ bearer: [] }],
    request: { params: ServiceParam },
    responses: {
      200: { description: "service", content: { "application/json": { schema: ServiceDetail } } },
      ...errors(401, 404),
    },
  }),
  async (c) =>
    c.json(
      await detail(c.env, lookup(c.get("config"), c.req.valid("param").service), c.get("sync")),
      200,
    ),
);

adminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/services/{service}/localnodes",
    summary: "Routable nodes of a scope, in the ScyllaDB Alternator /localnodes format",
    description:
      "Public. Served from this isolate's membership cache (at most one refresh interval old); a datacenter or rack it has not heard of answers [].",
    request: { params: ServiceParam, query: LocalNodesQuery },
    responses: {
      200: {
        description: "addresses",
        content: { "application/json": { schema: NodeView.shape.url.array() } },
      },
      ...errors(404),
    },
  }),
  async (c) => {
    const service = lookup(c.get("config"), c.req.valid("param").service);
    const { dc, rack } = c.req.valid("query");
    const home = service.scope.dc;
    const level: ScopeLevel = rack
      ? { kind: "rack", dc: dc ?? home ?? "", rack }
      : dc
        ? { kind: "dc", dc }
        : home
          ? { kind: "dc", dc: home }
          : { kind: "cluster" };
    // Anyone may ask, so the answer comes from this isolate's cache, never a write to the objects.
    const routable = await runtimeFor(service).localNodes(
      publicReads(c.env, service.name),
      level,
      Date.now(),
    );
    const port = service.discovery?.port;
    return c.json(
      routable.map((n) => address(n.url, port)),
      200,
    );
  },
);

adminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/sync",
    summary: "Peer route sync counters: the route table's and each fan-out shard's",
    security: [{ bearer: [] }],
    responses: {
      200: { description: "counters", content: { "application/json": { schema: SyncStatsView } } },
      ...errors(401, 404),
    },
  }),
  async (c) => {
    const sync = c.get("sync");
    if (!sync) {
      fail(
        problem({
          status: 404,
          type: "not-found",
          title: "Not found",
          detail: "peer sync is not configured",
        }),
      );
    }
    await ensureSyncConfigured(c.env, sync);
    const { shards, maxInFlight } = sync.settings;
    const stats = await Promise.all(
      Array.from({ length: shards }, (_, index) =>
        peerShardOf(c.env, sync.gatewayId, index)
          .stats()
          .then((s) => ({ index, ...s })),
      ),
    );
    const table = await routeSyncStub(c.env, sync).stats();
    return c.json(
      { gatewayId: sync.gatewayId, inFlightBound: maxInFlight, table, shards: stats },
      200,
    );
  },
);

adminRoutes.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Roundhouse admin API", version: "1" },
});

adminRoutes.onError(onError);
