import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { checkNodeUrl } from "../balancer/address-policy.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import type { ResolvedService } from "../config/load.ts";
import { addressPolicyOf } from "../config/network-schema.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import { liveNodesOf, peerShardOf } from "../durable/stubs.ts";
import { errorResponse } from "../http/errors.ts";
import { fail, invalidRequest, problem } from "../http/problem.ts";
import { adminAuth } from "./admin-auth.ts";
import {
  LocalNodesQuery,
  NodeParams,
  NodeView,
  Problem,
  RegisterNodeBody,
  ServiceDetail,
  ServiceParam,
  ServiceSummary,
  SyncStatsView,
} from "./admin-schemas.ts";
import type { GatewayEnv } from "./context.ts";
import { address, detail, membership, summary } from "./service-views.ts";
import { ensureSyncConfigured, routeSyncStub } from "./sync-runtime.ts";

const problemContent = { "application/problem+json": { schema: Problem } };
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: "problem", content: problemContent }]));

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
const PUBLIC_PATHS = [/^\/_gw\/services\/[^/]+\/localnodes$/, /^\/_gw\/openapi\.json$/];
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

/** A change the live-node object could not record for the peers: 503, with nothing changed. */
function syncUnavailable(error: unknown): never {
  const why = `the change could not be queued for the peer gateways, so it was not made: ${error}`;
  fail(
    problem({ status: 503, type: "sync-unavailable", title: "Change not recorded", detail: why }),
  );
}

/** The service named in the path; 404 problem when there is none. */
function lookup(config: ReadonlyMap<string, ResolvedService>, name: string): ResolvedService {
  const service = config.get(name);
  if (service) return service;
  fail(
    problem({
      status: 404,
      type: "unknown-service",
      title: "Unknown service",
      detail: `no service named "${name}"`,
    }),
  );
}

adminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/services/{service}/nodes",
    summary: "Register a node",
    security: [{ bearer: [] }],
    request: {
      params: ServiceParam,
      body: { required: true, content: { "application/json": { schema: RegisterNodeBody } } },
    },
    responses: {
      201: {
        description: "registered",
        content: { "application/json": { schema: RegisterNodeBody } },
      },
      ...errors(400, 401, 404, 409),
    },
  }),
  async (c) => {
    const service = lookup(c.get("config"), c.req.valid("param").service);
    const body = c.req.valid("json");
    const verdict = checkNodeUrl(body.url, addressPolicyOf(service));
    if (!verdict.ok) fail(invalidRequest([{ path: "url", message: verdict.reason }]));
    const node = {
      ...body,
      id: body.id ?? new URL(body.url).host,
      url: body.url.replace(/\/$/, ""),
    };
    const live = liveNodesOf(c.env, service.name);
    // The live-node object records the change for the peers (one call to a local object, no
    // peer waited for) before it keeps it, so a 201 means the peers will hear of it.
    const registered = await live
      .register(runtimeFor(service).liveConfig, node)
      .catch(syncUnavailable);
    if (!registered) {
      const why = `service "${service.name}" already has node "${node.id}"`;
      fail(problem({ status: 409, type: "conflict", title: "Node exists", detail: why }));
    }
    return c.json(node, 201);
  },
);

adminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/services/{service}/nodes/{nodeId}",
    summary: "Remove a registered node",
    security: [{ bearer: [] }],
    request: { params: NodeParams },
    responses: { 204: { description: "removed" }, ...errors(401, 404, 409) },
  }),
  async (c) => {
    const { service: name, nodeId } = c.req.valid("param");
    const service = lookup(c.get("config"), name);
    const live = liveNodesOf(c.env, service.name);
    const runtime = runtimeFor(service);
    const result = await live.remove(runtime.liveConfig, nodeId).catch(syncUnavailable);
    if (result === "removed") runtime.membership.forget();
    if (result === "not-found")
      fail(
        problem({
          status: 404,
          type: "not-found",
          title: "No such node",
          detail: `no node "${nodeId}"`,
        }),
      );
    if (result === "not-registered") {
      const why = `node "${nodeId}" comes from the configuration or discovery, not the admin API`;
      fail(
        problem({ status: 409, type: "conflict", title: "Node is not registered", detail: why }),
      );
    }
    return c.body(null, 204);
  },
);

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
    const { nodes, ejected } = await membership(c.env, service, [level]);
    const routable = (nodes[0] ?? []).filter((n) => n.healthy && !ejected.has(n.id));
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

adminRoutes.onError(errorResponse);
