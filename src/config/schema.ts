import { z } from "zod";
import { ORIGIN_PATTERN } from "../sync/hlc.ts";
import { DiscoverySchema, ScopeSchema } from "./discovery-schema.ts";
import { LoggingSchema } from "./logging-schema.ts";
import { AllowSchema, checkServiceNetwork, EgressSchema } from "./network-schema.ts";
import {
  EjectionSchema,
  GateSchema,
  HealthSchema,
  LatencyEjectionSchema,
  NodeSchema,
} from "./node-schema.ts";
import { AffinitySchema, HashSchema, HedgeSchema, RetryBudgetSchema } from "./policy-schema.ts";
import { checkPeers, PeerSchema, SyncSchema } from "./sync-schema.ts";

const RetrySchema = z
  .strictObject({
    maxAttempts: z
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe(
        "Most attempts sent for one request, the first one included (Envoy: 2, NGINX: every node). Attempts the gateway never sent (node ejected, gate queue wait ran out) do not count. A request goes to each node at most once, so the number of routable nodes is a second cap. `1` turns retries off.",
      ),
    attemptsPerScope: z
      .int()
      .min(1)
      .max(10)
      .default(1)
      .describe(
        "Failed attempts one dispatch makes in a scope level before its retries move on to the next level, leaving out the nodes of the level it left (Envoy's `previous_priorities`), so a rack or datacenter that stops whole, still listed and not yet ejected, does not spend them all. Once every level is spent so, any untried node is still taken.",
      ),
    perTryTimeoutMs: z
      .int()
      .min(1)
      .max(300_000)
      .default(5_000)
      .describe(
        "How long one attempt may wait for response headers, counted from when the gate lets the request go. Cut short when less of the deadline remains.",
      ),
    deadlineMs: z
      .int()
      .min(1)
      .max(600_000)
      .default(15_000)
      .describe(
        "How long the whole dispatch may take until response headers: gate queueing, every attempt and every backoff included. Streaming the response body afterwards is not limited by it.",
      ),
    backoffBaseMs: z
      .int()
      .min(0)
      .max(60_000)
      .default(25)
      .describe(
        "Base of the jittered exponential backoff between attempts (Envoy: 25 ms). `0` means no pause.",
      ),
    backoffMaxMs: z
      .int()
      .min(0)
      .max(60_000)
      .default(250)
      .describe("Cap of one backoff pause (Envoy: 10 × base); not below `backoffBaseMs`."),
    retryOnStatus: z
      .array(z.int().min(500).max(599))
      .default([502, 503, 504])
      .describe(
        "Response statuses that are retried, and only for requests that are safe to repeat. With `[]`, no response is retried; network errors and timeouts still are.",
      ),
    maxReplayBodyBytes: z
      .int()
      .min(0)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe(
        "Largest request body kept in memory so it can be sent again. A larger body is streamed to the first node, and the request is not retried once it may have reached that node.",
      ),
    budget: z
      .union([RetryBudgetSchema, z.literal(false)])
      .default(false)
      .describe(
        "Envoy's retry budget: retries in flight limited to a share of the requests in flight; `{}` gives Envoy's 20%, or 3 retries whatever the share. Off (`false`) by default, so that a node or a whole scope level going down fails no idempotent request; every failing request may then cost `maxAttempts` attempts. See [policies.md](policies.md#retry-budget).",
      ),
    hedge: HedgeSchema.optional().describe(
      "Send a slow request that is safe to repeat to a second node; the first answer wins. Off when absent. Needs `maxAttempts` of 2 or more.",
    ),
  })
  .meta({
    id: "retry",
    description:
      "When and how a failed attempt is sent to another node. See [Retry rules](config.md#retry-rules).",
  });

const RotationSchema = z
  .strictObject({
    leaseSize: z
      .int()
      .min(1)
      .max(4_096)
      .default(32)
      .describe(
        "Rotation positions an isolate takes from the service's coordinator in one call. See [Rotation leases](config.md#rotation-leases).",
      ),
  })
  .meta({ id: "rotation", description: "How isolates share one rotation." });

export const InvokeSchema = z
  .strictObject({
    timeoutMs: z
      .int()
      .min(1)
      .max(300_000)
      .default(10_000)
      .describe("Time one invocation may take, result included."),
    maxPayloadBytes: z
      .int()
      .min(0)
      .max(1024 * 1024 - 256)
      .default(1024 * 1024 - 256)
      .describe("Largest invocation payload (the stream protocol's frame limit is 1 MiB)."),
    queueCapacity: z
      .int()
      .min(1)
      .max(65_536)
      .default(1_024)
      .describe(
        "Invocations waiting to be written on one node's stream; beyond it callers wait, then get 503.",
      ),
    window: z
      .int()
      .min(1)
      .max(65_536)
      .default(256)
      .describe("Invocations on the wire not yet acknowledged by the node."),
  })
  .meta({
    id: "invoke",
    description:
      "Function invocations (`POST /v1/invoke/{service}/{function}`, or `POST /v1/invoke/{service}` for the node's default function) over one persistent stream per node. Refused with a VPC egress, which carries no WebSocket.",
  });

const ServiceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, _ and -")
      .describe(
        "Name used in request URLs, `/s/{name}/…`: lower-case letters, digits, `_` and `-`, starting with a letter or digit. Unique across services.",
      ),
    nodes: z
      .array(NodeSchema)
      .max(1_000)
      .default([])
      .describe(
        "The backend nodes. An empty list is valid; every request then answers 503 `no-node-available`. Node ids must be unique within the service.",
      ),
    policy: z
      .enum(["round_robin", "least_outstanding", "consistent_hash"])
      .default("round_robin")
      .describe(
        "`round_robin`: strict smooth weighted rotation, leased from the service's coordinator. `least_outstanding`: of two random untried nodes, the one with fewer requests in flight from this isolate (Envoy's least request); no coordinator call. `consistent_hash`: a ring hash of a request key with bounded loads, set by [hash](#hash). See [policies.md](policies.md).",
      ),
    hash: HashSchema.prefault({}).describe(
      'Key and load bound of `policy: "consistent_hash"`; unused by the other policies.',
    ),
    affinity: AffinitySchema.optional().describe(
      "Session affinity: a signed cookie keeps a client on the node that first answered it, while that node is routable. Off when absent.",
    ),
    provenance: z
      .enum(["none", "headers"])
      .default("none")
      .describe(
        '`"headers"`: a node\'s answer carries `x-roundhouse-node`, `x-roundhouse-attempts` and `x-request-id`. `"none"`: it passes through as the node sent it, which keeps node ids private and costs 10–20% less CPU a request (the runtime sends a fetched answer on untouched). The gateway\'s own problem answers carry the attempts and request id either way.',
      ),
    lockScope: z
      .enum(["node", "global"])
      .default("node")
      .describe(
        'Where the handshake lock is held: one gate per node, or one gate for the whole service. `"global"` exists only as a benchmark baseline; see [lockScope](config.md#lockscope).',
      ),
    retry: RetrySchema.prefault({}).describe("When and how a failed attempt goes to another node."),
    gate: GateSchema.prefault({}).describe("How many handshakes one node takes at once."),
    ejection: EjectionSchema.prefault({}).describe("Passive outlier ejection."),
    rotation: RotationSchema.prefault({}).describe("How isolates share one rotation."),
    discovery: DiscoverySchema.optional().describe(
      "Learn nodes from seeds' `/localnodes`, beside or instead of `nodes`.",
    ),
    scope: ScopeSchema.prefault({}).describe(
      "Preferred datacenter and rack, and the fallback chain.",
    ),
    health: HealthSchema.optional().describe(
      "Active health checks. Passive ejection applies either way.",
    ),
    invoke: InvokeSchema.optional().describe(
      "Function invocations over one stream per node; absent, the defaults apply with `internet` egress. Refused with a VPC egress.",
    ),
    egress: EgressSchema.default({ kind: "internet" }).describe(
      "How every outbound request of the service (proxied attempts, health probes, discovery, invocation streams) leaves the Worker: the global `fetch`, or a Workers VPC binding. See [deploy.md](deploy.md).",
    ),
    allow: AllowSchema.describe(
      "CIDRs (`10.0.0.0/8`, `fd00::/8`) and hostname suffixes (`nodes.internal`) the service's nodes may be in. When non-empty, every node (configured, registered, synced from a peer, discovered) must match an entry. Loopback and private ranges are refused unless an entry covers them. See [Address policy](config.md#address-policy).",
    ),
    latencyEjection: LatencyEjectionSchema.optional().describe(
      "Latency-aware outlier ejection, judged by each isolate from its own traffic. Off when absent.",
    ),
    slowStartMs: z
      .int()
      .min(0)
      .max(3_600_000)
      .default(10_000)
      .describe(
        "Time over which a node that joins or returns to rotation ramps from 10% to a full share. `0` turns slow start off. Nodes present when the service first starts take full traffic at once.",
      ),
    panicThreshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "If fewer than this share of a scope level's listed nodes are routable, route across all of them (Envoy's panic mode, default 50%). `0` turns panic mode off.",
      ),
  })
  .superRefine((service, ctx) => {
    const seen = new Set<string>();
    service.nodes.forEach((node, i) => {
      // A URL the schema refused has no id of its own; its own issue says what is wrong.
      if (node.id === undefined && !URL.canParse(node.url)) return;
      const id = node.id ?? defaultNodeId(node.url);
      if (seen.has(id)) {
        ctx.addIssue({
          code: "custom",
          path: ["nodes", i, "id"],
          message: `duplicate node id "${id}"`,
        });
      }
      seen.add(id);
    });
    if (service.retry.backoffMaxMs < service.retry.backoffBaseMs) {
      ctx.addIssue({
        code: "custom",
        path: ["retry", "backoffMaxMs"],
        message: "below backoffBaseMs",
      });
    }
    const leases = service.gate.lease && service.gate.limit > 1;
    if (leases && service.gate.leaseTtlMs <= service.retry.perTryTimeoutMs) {
      ctx.addIssue({
        code: "custom",
        path: ["gate", "leaseTtlMs"],
        message: "must exceed retry.perTryTimeoutMs, or no leased slot could hold a handshake",
      });
    }
    if (service.retry.hedge && service.retry.maxAttempts < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["retry", "hedge"],
        message: "a hedge is a second attempt: needs retry.maxAttempts of 2 or more",
      });
    }
    if (service.ejection.maxMs < service.ejection.baseMs) {
      ctx.addIssue({ code: "custom", path: ["ejection", "maxMs"], message: "below baseMs" });
    }
    const discovery = service.discovery;
    if (discovery && discovery.staleAfterMs <= discovery.idleIntervalMs) {
      ctx.addIssue({
        code: "custom",
        path: ["discovery", "staleAfterMs"],
        message: "must exceed idleIntervalMs, or an idle service would forget its nodes",
      });
    }
    checkServiceNetwork(service, ctx);
  })
  .meta({
    id: "service",
    description: "A backend service: a named set of nodes and how traffic is spread over them.",
  });

export const ConfigSchema = z
  .strictObject({
    services: z
      .array(ServiceSchema)
      .default([])
      .describe("The services the gateway serves. Names must be unique."),
    gatewayId: z
      .string()
      .regex(ORIGIN_PATTERN, "letters, digits and . _ : - only, at most 64")
      .optional()
      .describe(
        "This deployment's id in [peer route sync](config.md#peer-route-sync): the origin stamped on its route changes, and the name its peers list it under. Required when `peers` is set.",
      ),
    peers: z
      .array(PeerSchema)
      .max(1_000)
      .default([])
      .describe(
        "Other deployments that share the route table. Peer sync is off while the list is empty.",
      ),
    sync: SyncSchema.prefault({}).describe(
      "How route changes fan out to the peers, retry, and reconcile.",
    ),
    logging: LoggingSchema.prefault({}).describe(
      "Log level and the share of requests that get a line; see [operations.md](operations.md#logs).",
    ),
    adminHost: z
      .string()
      .toLowerCase()
      .regex(
        /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
        "a hostname: letters, digits, - and dots, no port",
      )
      .optional()
      .describe(
        "A hostname of its own for the dashboard, the admin API and the metrics. When set, they answer only on it (404 on every other host), and it serves no proxied request or invocation, so no page a node serves shares an origin with the dashboard. `/_gw/health` and the peer endpoints answer on every host. See [security.md](security.md#the-admin-hostname).",
      ),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.services.forEach((service, i) => {
      if (seen.has(service.name)) {
        ctx.addIssue({ code: "custom", path: ["services", i, "name"], message: "duplicate name" });
      }
      seen.add(service.name);
    });
    checkPeers(config, ctx);
  })
  .meta({
    description:
      "The whole gateway configuration, the `ROUNDHOUSE_CONFIG` variable (see [config.md](config.md)).",
  });

export type NodeConfig = z.output<typeof NodeSchema>;
export type ServiceConfig = z.output<typeof ServiceSchema>;
export type InvokeSettings = z.output<typeof InvokeSchema>;
export type RoundhouseConfig = z.output<typeof ConfigSchema>;

/** The id a node gets when the config names none: its host and port. */
export function defaultNodeId(url: string): string {
  return new URL(url).host;
}
