import { z } from "@hono/zod-openapi";
import { NodeUrlSchema } from "../balancer/node-url.ts";
import { LOCATION_HINTS } from "../config/node-schema.ts";

/** Path parameter: a service name. */
export const ServiceParam = z.object({
  service: z.string().openapi({ param: { name: "service", in: "path" }, example: "echo" }),
});

/** Path parameters: a service and one of its nodes. */
export const NodeParams = ServiceParam.extend({
  nodeId: z.string().openapi({ param: { name: "nodeId", in: "path" }, example: "10.0.0.7:8000" }),
});

/** Body of a node registration. */
export const RegisterNodeBody = z
  .strictObject({
    url: z.string().openapi({ example: "https://node-7.fleet.example:8000" }).pipe(NodeUrlSchema),
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    dc: z.string().min(1).max(64).optional(),
    rack: z.string().min(1).max(64).optional(),
    weight: z.int().min(1).max(100).default(1),
    locationHint: z.enum(LOCATION_HINTS).optional(),
  })
  .openapi("RegisterNode");

/** Body of a node's runtime change (`PATCH …/nodes/{nodeId}`). */
export const NodePatchBody = z
  .strictObject({
    weight: z
      .int()
      .min(1)
      .max(100)
      .nullable()
      .openapi({ description: "weight in place of the declared one; null returns to it" }),
  })
  .openapi("NodePatch");

/** An operator's setting of a node, as the drain and weight routes answer it. */
export const NodeSettingView = z
  .object({
    nodeId: z.string(),
    draining: z.boolean(),
    weight: z.number().nullable().openapi({ description: "the operator's weight; null: declared" }),
  })
  .openapi("NodeSetting");

/** A node as the admin API shows it. */
export const NodeView = z
  .object({
    id: z.string(),
    url: z.string(),
    dc: z.string().optional(),
    rack: z.string().optional(),
    weight: z.number().openapi({ description: "the weight in effect, an operator's if set" }),
    draining: z.boolean(),
    drainedBy: z.enum(["operator", "peer"]).optional().openapi({
      description:
        "who drained it: this gateway's operator (out even in panic) or a peer's (out as an ejected node is)",
    }),
    source: z.enum(["config", "registered", "discovered"]),
    levels: z.array(z.string()).openapi({ description: "scope levels that list the node" }),
    healthy: z.boolean(),
    ejectedUntil: z.number().nullable(),
    failureStreak: z.number(),
    inFlight: z.number().openapi({ description: "handshakes in progress through the gate itself" }),
    queued: z.number(),
    leased: z.number().openapi({ description: "handshake slots leased to isolates now" }),
    leaseHolders: z.number().openapi({ description: "isolates holding leased slots" }),
  })
  .openapi("Node");

/** One service in the list. */
export const ServiceSummary = z
  .object({
    name: z.string(),
    policy: z.string(),
    lockScope: z.string(),
    configuredNodes: z.number(),
    discovery: z.boolean(),
    healthChecks: z.boolean(),
  })
  .openapi("ServiceSummary");

/** One peer gateway's sync state, as the services API shows it. */
const PeerSyncView = z
  .object({
    peer: z.string(),
    shard: z.number().openapi({ description: "fan-out shard holding the peer's queue" }),
    pending: z
      .number()
      .openapi({ description: "changes of this service the peer has not acknowledged" }),
    pendingKeys: z
      .array(z.string())
      .openapi({ description: "their keys (service/node), at most 20" }),
    cursor: z
      .string()
      .nullable()
      .openapi({ description: "stamp of the last change it acknowledged" }),
    lastSyncedAt: z.number().nullable(),
    lastReconciledAt: z.number().nullable(),
    failures: z.number().openapi({ description: "failed rounds in a row" }),
    lastError: z.object({ message: z.string(), at: z.number() }).nullable(),
    nextAttemptAt: z.number(),
  })
  .openapi("PeerSync");

/** A service in detail. */
export const ServiceDetail = ServiceSummary.extend({
  version: z.number(),
  scope: z.object({
    chain: z.array(z.string()),
    serving: z.string().nullable(),
    panic: z.boolean(),
  }),
  discoveryState: z.object({
    pace: z.enum(["active", "idle"]),
    lastTrafficAt: z.number(),
    nextAlarmAt: z.number().nullable(),
    rounds: z.number(),
    requests: z.number(),
    failures: z.number(),
    lastFailure: z.string().optional(),
    refusedEntries: z
      .number()
      .openapi({ description: "entries dropped from answers by the address policy" }),
    heldBack: z.number().openapi({ description: "answers that would have added too many nodes" }),
    expired: z.number().openapi({ description: "nodes no answer confirmed within staleAfterMs" }),
    lastGoodAt: z.number(),
    lastRefused: z.string().optional(),
  }),
  nodes: z.array(NodeView),
  peers: z
    .array(PeerSyncView)
    .openapi({ description: "peer route sync, per peer; empty when off" }),
}).openapi("ServiceDetail");

/** Counters of peer route sync (GET /_gw/sync). */
export const SyncStatsView = z
  .object({
    gatewayId: z.string(),
    inFlightBound: z.number(),
    table: z.object({
      recorded: z.number(),
      remoteApplied: z.number(),
      effects: z.number(),
      effectFailures: z.number(),
      wakes: z.number(),
    }),
    shards: z.array(
      z.object({
        index: z.number(),
        peers: z.number(),
        limit: z.number(),
        requests: z.number(),
        retries: z.number(),
        acks: z.number(),
        failedRounds: z.number(),
        inFlight: z.number(),
        peakInFlight: z.number(),
        reconciles: z.number(),
        reconcileDiffs: z.number(),
        alarms: z.number(),
      }),
    ),
  })
  .openapi("SyncStats");

/** An RFC 9457 problem document. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    detail: z.string().optional(),
  })
  .passthrough()
  .openapi("Problem");

/** Query of the Alternator-compatible node list. */
export const LocalNodesQuery = z.object({
  dc: z
    .string()
    .optional()
    .openapi({ param: { name: "dc", in: "query" } }),
  rack: z
    .string()
    .optional()
    .openapi({ param: { name: "rack", in: "query" } }),
});
