import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { checkNodeUrl } from "../balancer/address-policy.ts";
import type { MemberNode } from "../balancer/membership.ts";
import { type ScopeLevel, scopeChain, scopeKey } from "../balancer/scope.ts";
import type { ResolvedService, SyncConfig } from "../config/load.ts";
import { addressPolicyOf } from "../config/network-schema.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import type { GateStats } from "../durable/node-gate.ts";
import type { PeerView } from "../durable/peer-shard.ts";
import { peerShardName } from "../durable/route-sync.ts";
import { gateStub } from "../durable/stubs.ts";
import { errorResponse } from "../http/errors.ts";
import { invalidRequest, problem } from "../http/problem.ts";
import { shardOf } from "../sync/fanout.ts";
import { eachLimited } from "../util/each-limited.ts";
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
adminRoutes.use("/admin/*", adminAuth);
// Admin bodies are small JSON documents; a larger one is refused while it streams.
adminRoutes.use(
  "/admin/*",
  bodyLimit({
    maxSize: ADMIN_BODY_BYTES,
    onError: () =>
      problem(413, "payload-too-large", "Payload too large", `at most ${ADMIN_BODY_BYTES} bytes`),
  }),
);
adminRoutes.use("/services", adminAuth);
adminRoutes.use("/services/:service", adminAuth);
adminRoutes.use("/sync", adminAuth);

/** A change the live-node object could not record for the peers: 503, with nothing changed. */
function syncUnavailable(error: unknown): never {
  throw new HTTPException(503, {
    res: problem(
      503,
      "sync-unavailable",
      "Change not recorded",
      `the change could not be queued for the peer gateways, so it was not made: ${String(error)}`,
    ),
  });
}

function lookup(
  config: ReadonlyMap<string, ResolvedService>,
  name: string,
): ResolvedService | Response {
  return (
    config.get(name) ??
    problem(404, "unknown-service", "Unknown service", `no service named "${name}"`)
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
    if (service instanceof Response) return service as never;
    const body = c.req.valid("json");
    const verdict = checkNodeUrl(body.url, addressPolicyOf(service));
    if (!verdict.ok) return invalidRequest([{ path: "url", message: verdict.reason }]) as never;
    const node = {
      ...body,
      id: body.id ?? new URL(body.url).host,
      url: body.url.replace(/\/$/, ""),
    };
    const live = c.env.LIVE_NODES.get(c.env.LIVE_NODES.idFromName(service.name));
    // The live-node object records the change for the peers (one call to a local object, no
    // peer waited for) before it keeps it, so a 201 means the peers will hear of it.
    const registered = await live
      .register(runtimeFor(service).liveConfig, node)
      .catch(syncUnavailable);
    if (!registered) {
      return problem(
        409,
        "conflict",
        "Node exists",
        `service "${service.name}" already has node "${node.id}"`,
      ) as never;
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
    if (service instanceof Response) return service as never;
    const live = c.env.LIVE_NODES.get(c.env.LIVE_NODES.idFromName(service.name));
    const runtime = runtimeFor(service);
    const result = await live.remove(runtime.liveConfig, nodeId).catch(syncUnavailable);
    if (result === "removed") runtime.membership.forget();
    if (result === "not-found")
      return problem(404, "not-found", "No such node", `no node "${nodeId}"`) as never;
    if (result === "not-registered") {
      const detail = `node "${nodeId}" comes from the configuration or discovery, not the admin API`;
      return problem(409, "conflict", "Node is not registered", detail) as never;
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
      await detail(
        c.env,
        lookupOrThrow(c.get("config"), c.req.valid("param").service),
        c.get("sync"),
      ),
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
    if (service instanceof Response) return service as never;
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
      return problem(404, "not-found", "Not found", "peer sync is not configured") as never;
    }
    await ensureSyncConfigured(c.env, sync);
    const { shards, maxInFlight } = sync.settings;
    const stats = await Promise.all(
      Array.from({ length: shards }, (_, index) =>
        c.env.PEER_SHARD.get(c.env.PEER_SHARD.idFromName(peerShardName(sync.gatewayId, index)))
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

class NotFound extends Error {
  readonly response: Response;
  constructor(response: Response) {
    super("not found");
    this.response = response;
  }
}

function lookupOrThrow(
  config: ReadonlyMap<string, ResolvedService>,
  name: string,
): ResolvedService {
  const found = lookup(config, name);
  if (found instanceof Response) throw new NotFound(found);
  return found;
}

adminRoutes.onError((error) => (error instanceof NotFound ? error.response : errorResponse(error)));

function summary(service: ResolvedService) {
  return {
    name: service.name,
    policy: service.policy,
    lockScope: service.lockScope,
    configuredNodes: service.nodes.length,
    discovery: service.discovery !== undefined,
    healthChecks: service.health !== undefined,
  };
}

async function membership(env: Env, service: ResolvedService, chain: ScopeLevel[]) {
  const live = env.LIVE_NODES.get(env.LIVE_NODES.idFromName(service.name));
  const coordinator = env.ROTATION.get(env.ROTATION.idFromName(service.name));
  const [report, ejections] = await Promise.all([
    live.report(runtimeFor(service).liveConfig, chain),
    coordinator.ejectedNodes(),
  ]);
  const ejected = new Map(ejections.map((e) => [e.nodeId, e.until]));
  return { report, ejected, nodes: report.levels.map((l) => l.nodes as MemberNode[]) };
}

/** Every peer's sync state, pending counted for this service, from the fan-out shards. */
async function peerStatus(
  env: Env,
  sync: SyncConfig | undefined,
  service: string,
): Promise<PeerView[]> {
  if (!sync) return [];
  await ensureSyncConfigured(env, sync);
  const shards = [...new Set(sync.peers.map((p) => shardOf(p.name, sync.settings.shards)))];
  const views: PeerView[] = [];
  await eachLimited(shards, 6, async (index) => {
    const name = peerShardName(sync.gatewayId, index);
    views.push(...(await env.PEER_SHARD.get(env.PEER_SHARD.idFromName(name)).status(service)));
  });
  return views.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
}

async function detail(env: Env, service: ResolvedService, sync?: SyncConfig) {
  const chain = scopeChain(
    { dc: service.scope.dc, rack: service.scope.rack },
    service.scope.fallback,
  );
  const { report, ejected, nodes } = await membership(env, service, chain);
  const byId = new Map<string, { node: MemberNode; levels: string[] }>();
  nodes.forEach((level, i) => {
    for (const node of level) {
      const entry = byId.get(node.id) ?? { node, levels: [] };
      entry.levels.push(scopeKey(chain[i] as ScopeLevel));
      byId.set(node.id, entry);
    }
  });
  const registered = new Set(report.registered.map((n) => n.id));
  const configured = new Set(service.nodes.map((n) => n.id));
  const gates = new Map<string, GateStats>();
  await eachLimited([...byId.keys()], 6, async (id) => {
    const global = service.lockScope === "global";
    const gate = gateStub(env, { service: service.name, nodeId: id, global });
    gates.set(id, await gate.stats());
  });
  const peers = await peerStatus(env, sync, service.name);
  const serving = nodes.findIndex((level) => level.some((n) => n.healthy && !ejected.has(n.id)));
  const servingLevel = nodes[serving] ?? [];
  const routable = servingLevel.filter((n) => n.healthy && !ejected.has(n.id)).length;
  return {
    ...summary(service),
    version: report.version,
    scope: {
      chain: chain.map(scopeKey),
      serving: serving >= 0 ? scopeKey(chain[serving] as ScopeLevel) : null,
      panic: serving < 0 || routable < service.panicThreshold * servingLevel.length,
    },
    discoveryState: {
      pace: report.pace,
      lastTrafficAt: report.lastTrafficAt,
      nextAlarmAt: report.nextAlarmAt,
      ...report.discovery,
    },
    nodes: [...byId.values()].map(({ node, levels }) => {
      const gate = gates.get(node.id);
      return {
        id: node.id,
        url: node.url,
        dc: node.dc,
        rack: node.rack,
        weight: node.weight,
        source: configured.has(node.id)
          ? "config"
          : registered.has(node.id)
            ? "registered"
            : "discovered",
        levels,
        healthy: node.healthy,
        ejectedUntil: ejected.get(node.id) ?? null,
        failureStreak: gate?.health[node.id]?.streak ?? 0,
        inFlight: gate?.inFlight ?? 0,
        queued: gate?.queued ?? 0,
        leased: gate?.leased ?? 0,
        leaseHolders: gate?.leaseHolders ?? 0,
      } as const;
    }),
    peers,
  };
}

/** A node URL as an Alternator list entry: the bare host when it uses the service's port. */
function address(url: string, port: number | undefined): string {
  const parsed = new URL(url);
  const effective = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return port !== undefined && String(port) === effective ? parsed.hostname : parsed.host;
}
