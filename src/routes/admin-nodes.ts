import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { checkNodeUrl } from "../balancer/address-policy.ts";
import { addressPolicyOf } from "../config/network-schema.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import type { SettingPatch } from "../durable/live-nodes/contract.ts";
import { liveNodesOf } from "../durable/stubs.ts";
import { fail, invalidRequest, problem } from "../http/problem.ts";
import { errors, lookup, syncUnavailable } from "./admin-common.ts";
import {
  NodeParams,
  NodePatchBody,
  NodeSettingView,
  RegisterNodeBody,
  ServiceParam,
} from "./admin-schemas.ts";
import type { GatewayEnv } from "./context.ts";

/**
 * The admin routes that change a service's nodes: registering and removing them, and an
 * operator's drain and weight, which apply to a node of any source (configured, registered or
 * discovered). Every change is recorded for the peer gateways before it is kept, persists across
 * restarts, and is last-writer-wins across peers.
 */
export function nodeRoutes(app: OpenAPIHono<GatewayEnv>): void {
  app.openapi(
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
        const why = `service "${service.name}" already has node "${node.id}" or a node at ${node.url}`;
        fail(problem({ status: 409, type: "conflict", title: "Node exists", detail: why }));
      }
      return c.json(node, 201);
    },
  );

  app.openapi(
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

  // Draining and returning are one route each way on the same path.
  const drainRoutes = [
    ["post", true, "Drain a node: no new dispatches, in-flight ones finish"],
    ["delete", false, "Return a drained node to rotation, through slow start"],
  ] as const;
  for (const [method, draining, summary] of drainRoutes) {
    app.openapi(
      createRoute({
        method,
        path: "/admin/services/{service}/nodes/{nodeId}/drain",
        summary,
        security: [{ bearer: [] }],
        request: { params: NodeParams },
        responses: {
          200: { description: "set", content: { "application/json": { schema: NodeSettingView } } },
          ...errors(401, 404, 503),
        },
      }),
      async (c) => c.json(await operate(c, { draining }), 200),
    );
  }

  app.openapi(
    createRoute({
      method: "patch",
      path: "/admin/services/{service}/nodes/{nodeId}",
      summary: "Set a node's weight at runtime",
      security: [{ bearer: [] }],
      request: {
        params: NodeParams,
        body: { required: true, content: { "application/json": { schema: NodePatchBody } } },
      },
      responses: {
        200: { description: "set", content: { "application/json": { schema: NodeSettingView } } },
        ...errors(400, 401, 404, 503),
      },
    }),
    async (c) => c.json(await operate(c, { weight: c.req.valid("json").weight }), 200),
  );
}

/** Applies an operator's setting to the node in the path; 404 when the service has no such node. */
async function operate(c: Context<GatewayEnv>, patch: SettingPatch) {
  const { service: name, nodeId } = c.req.param() as { service: string; nodeId: string };
  const service = lookup(c.get("config"), name);
  const runtime = runtimeFor(service);
  const setting = await liveNodesOf(c.env, service.name)
    .operate(runtime.liveConfig, nodeId, patch)
    .catch(syncUnavailable);
  if (!setting) {
    fail(
      problem({
        status: 404,
        type: "not-found",
        title: "No such node",
        detail: `service "${service.name}" has no node "${nodeId}"`,
      }),
    );
  }
  // This isolate routes by the new setting at once; others within one refresh interval.
  runtime.membership.forget();
  return { nodeId, ...setting };
}
