import { z } from "zod";
import { ORIGIN_PATTERN } from "../sync/hlc.ts";
import { LoggingSchema } from "./logging-schema.ts";
import { AllowSchema, checkServiceNetwork, EgressSchema, NodeUrlSchema } from "./network-schema.ts";
import { AffinitySchema, HashSchema, HedgeSchema, RetryBudgetSchema } from "./policy-schema.ts";
import { checkPeers, PeerSchema, SyncSchema } from "./sync-schema.ts";

/** Durable Object location hints a node's gate may be placed by. */
export const LOCATION_HINTS = [
  "wnam",
  "enam",
  "sam",
  "weur",
  "eeur",
  "apac",
  "oc",
  "afr",
  "me",
] as const;

/** One backend node of a service. */
export const NodeSchema = z.strictObject({
  /** Stable id; defaults to the URL's host:port. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, "letters, digits and . _ : - only, at most 128")
    .optional(),
  /** Where the node listens; a path here prefixes every forwarded path. */
  url: NodeUrlSchema,
  /** Datacenter the node runs in. */
  dc: z.string().min(1).max(64).optional(),
  /** Rack (or zone) within the datacenter. */
  rack: z.string().min(1).max(64).optional(),
  /** Relative share of traffic. */
  weight: z.int().min(1).max(100).default(1),
  /** Where to place the node's gate object (Durable Object location hint). */
  locationHint: z.enum(LOCATION_HINTS).optional(),
});

/** When and how a failed attempt is sent to another node. */
export const RetrySchema = z.strictObject({
  /** Most times one request is sent to a node, first try included (Envoy: 2, NGINX: every node). */
  maxAttempts: z.int().min(1).max(10).default(3),
  /**
   * Failed attempts a dispatch makes in one scope level before its retries move on to the next
   * (Envoy's previous_priorities), so a rack or datacenter down whole does not spend them all.
   */
  attemptsPerScope: z.int().min(1).max(10).default(1),
  /** Time an attempt may wait for response headers. */
  perTryTimeoutMs: z.int().min(1).max(300_000).default(5_000),
  /** Time the whole dispatch may take until response headers, retries and backoff included. */
  deadlineMs: z.int().min(1).max(600_000).default(15_000),
  /** Base of the jittered exponential backoff between attempts (Envoy: 25 ms). */
  backoffBaseMs: z.int().min(0).max(60_000).default(25),
  /** Cap of one backoff sleep (Envoy: 10 × base). */
  backoffMaxMs: z.int().min(0).max(60_000).default(250),
  /** Statuses retried when the request is safe to repeat. */
  retryOnStatus: z.array(z.int().min(500).max(599)).default([502, 503, 504]),
  /** Largest request body buffered so it can be replayed; larger bodies stream and are not retried. */
  maxReplayBodyBytes: z
    .int()
    .min(0)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Retry budget: retries in flight limited to a share of requests in flight; off when absent. */
  budget: RetryBudgetSchema.optional(),
  /** Hedging of requests that are safe to repeat; off when absent. */
  hedge: HedgeSchema.optional(),
});

/** Per-node admission: how many handshakes one node takes at once. */
export const GateSchema = z.strictObject({
  /** Handshakes (until response headers) in progress at one node at once; more wait their turn. */
  limit: z.int().min(1).max(10_000).default(64),
  /**
   * Lease slots of the limit to isolates, which then fetch the node themselves and call the gate
   * only to renew and to report failures; off sends every attempt through the gate.
   */
  lease: z.boolean().default(true),
  /** How long a lease lasts; a dead isolate's slots come back after this. Above perTryTimeoutMs. */
  leaseTtlMs: z.int().min(1_000).max(600_000).default(20_000),
});

/** Passive outlier ejection. */
export const EjectionSchema = z.strictObject({
  /** Consecutive failures (network error, timeout, 5xx) that eject a node (Envoy: 5). */
  consecutiveFailures: z.int().min(1).max(1_000).default(5),
  /** First ejection's length; the n-th in a row lasts n times this (Envoy: 30 s). */
  baseMs: z.int().min(1).max(3_600_000).default(30_000),
  /** Longest ejection (Envoy: 300 s). */
  maxMs: z.int().min(1).max(86_400_000).default(300_000),
  /** Largest share of nodes ejected at once; at least one node of two or more may go. */
  maxEjectedShare: z.number().min(0).max(1).default(0.5),
});

/** How isolates share one rotation. */
export const RotationSchema = z.strictObject({
  /** Positions an isolate leases from the service's coordinator at a time. */
  leaseSize: z.int().min(1).max(4_096).default(32),
});

const scopeName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - only");
const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "the name of a secret (an env var)");

/** Learning nodes from seeds' `/localnodes` (the ScyllaDB Alternator format). */
export const DiscoverySchema = z.strictObject({
  /** Where to ask first, and again whenever no known node answers. */
  seeds: z.array(NodeUrlSchema).min(1).max(64),
  /** Path of the node list on each node. */
  path: z
    .string()
    .regex(/^\/[^?#]*$/, "an absolute path without query")
    .default("/localnodes"),
  /** Scheme used to reach discovered nodes. */
  scheme: z.enum(["http", "https"]).default("http"),
  /** Port used to reach discovered nodes given as bare IPs; defaults to the seed's port. */
  port: z.int().min(1).max(65_535).optional(),
  /** Refresh period while the service has traffic. */
  activeIntervalMs: z.int().min(50).max(3_600_000).default(1_000),
  /** Refresh period once the service has had no traffic for this long. */
  idleIntervalMs: z.int().min(50).max(86_400_000).default(60_000),
  /** Time one discovery request may take. */
  timeoutMs: z.int().min(1).max(60_000).default(5_000),
  /**
   * Datacenters asked for (`?dc=`) at the cluster level besides the answering node's own, since
   * Alternator's answers name addresses only; those the scope settings name are asked anyway.
   */
  datacenters: z.array(scopeName).max(64).default([]),
  /** Request headers of every discovery request, each taken from the secret (env var) named. */
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a header name"), secretName)
    .default({}),
  /** Largest answer read; a longer one is cut off while it streams and rejected. */
  maxAnswerBytes: z
    .int()
    .min(64)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** Most new nodes one answer may add at once; a larger influx is held back and counted. */
  maxNewNodes: z.int().min(1).max(10_000).default(64),
  /** A discovered node no answer has confirmed for this long leaves the lists (Envoy's endpoint_stale_after). */
  staleAfterMs: z
    .int()
    .min(1_000)
    .max(7 * 86_400_000)
    .default(300_000),
});

/** Which nodes a service prefers, and where it turns when they are gone. */
export const ScopeSchema = z
  .strictObject({
    /** Preferred datacenter. */
    dc: scopeName.optional(),
    /** Preferred rack within `dc`. */
    rack: scopeName.optional(),
    /** Levels tried in order while the preferred one has no live node. */
    fallback: z
      .array(z.enum(["rack", "dc", "cluster"]))
      .min(1)
      .default(["rack", "dc", "cluster"]),
    /** Whether a request may narrow its scope with `x-roundhouse-scope: dc=…;rack=…`. */
    allowHeader: z.boolean().default(false),
    /** Preferred datacenter by the caller's continent (`request.cf.continent`, e.g. "EU"). */
    dcByContinent: z.record(z.string(), scopeName).default({}),
    /** Preferred datacenter by the Cloudflare colo that took the request (e.g. "AMS"). */
    dcByColo: z.record(z.string(), scopeName).default({}),
  })
  .refine((s) => !s.rack || s.dc, { path: ["rack"], message: "a rack needs its dc" });

/** Taking a node out while it answers much slower than its peers. */
export const LatencyEjectionSchema = z.strictObject({
  /** Outlier when its average handshake latency exceeds this multiple of the peers' median. */
  factor: z.number().min(1.1).max(1_000).default(3),
  /** Handshakes a node needs before it is judged. */
  minSamples: z.int().min(1).max(10_000).default(10),
  /** How long an outlier stays out. */
  ejectMs: z.int().min(1).max(3_600_000).default(10_000),
  /** Latencies below this are never outliers. */
  floorMs: z.int().min(0).max(60_000).default(50),
});

/** Function invocations over each node's persistent stream (`POST /v1/invoke/{service}`). */
export const InvokeSchema = z.strictObject({
  /** Time an invocation may take, result included. */
  timeoutMs: z.int().min(1).max(300_000).default(10_000),
  /** Largest invocation payload (the stream protocol's frame limit is 1 MiB). */
  maxPayloadBytes: z
    .int()
    .min(0)
    .max(1024 * 1024 - 256)
    .default(1024 * 1024 - 256),
  /** Invocations waiting to be written on one node's stream; beyond it callers wait, then get 503. */
  queueCapacity: z.int().min(1).max(65_536).default(1_024),
  /** Invocations on the wire not yet acked by the node. */
  window: z.int().min(1).max(65_536).default(256),
});

/** Active health checking of every node. */
export const HealthSchema = z.strictObject({
  /** Path probed with GET; any 2xx passes. */
  path: z
    .string()
    .regex(/^\/[^#]*$/, "an absolute path")
    .default("/health"),
  /** Time between probes of one node (HAProxy: 2 s). */
  intervalMs: z.int().min(50).max(3_600_000).default(2_000),
  /** Time a probe may take. */
  timeoutMs: z.int().min(1).max(60_000).default(1_000),
  /** Passing probes in a row that make an unhealthy node healthy (HAProxy rise: 2). */
  healthyThreshold: z.int().min(1).max(100).default(2),
  /** Failing probes in a row that make a healthy node unhealthy (HAProxy fall: 3). */
  unhealthyThreshold: z.int().min(1).max(100).default(3),
});

/** A backend service: a named set of nodes and how traffic is spread over them. */
export const ServiceSchema = z
  .strictObject({
    /** Name used in URLs (`/s/{name}/…`). */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, _ and -"),
    /** Nodes listed in the config. */
    nodes: z.array(NodeSchema).max(1_000).default([]),
    /**
     * Balancing policy: strict rotation, the fewer in-flight of two random nodes (Envoy's least
     * request), or a ring hash of a request key with bounded loads.
     */
    policy: z.enum(["round_robin", "least_outstanding", "consistent_hash"]).default("round_robin"),
    /** Hash key and bound of `policy: "consistent_hash"`. */
    hash: HashSchema.prefault({}),
    /** Session affinity by a signed cookie naming the client's node; off when absent. */
    affinity: AffinitySchema.optional(),
    /** Where the handshake lock is held: per node, or one lock for the whole service (baseline only). */
    lockScope: z.enum(["node", "global"]).default("node"),
    retry: RetrySchema.prefault({}),
    gate: GateSchema.prefault({}),
    ejection: EjectionSchema.prefault({}),
    rotation: RotationSchema.prefault({}),
    /** Learn nodes from seeds instead of (or beside) listing them. */
    discovery: DiscoverySchema.optional(),
    /** Preferred routing scope and its fallback chain. */
    scope: ScopeSchema.prefault({}),
    /** Active health checks; passive ejection applies either way. */
    health: HealthSchema.optional(),
    /** Function invocations over persistent streams; defaults apply with internet egress. */
    invoke: InvokeSchema.optional(),
    /** How outbound requests (attempts, probes, discovery, streams) leave the Worker. */
    egress: EgressSchema.default({ kind: "internet" }),
    /** CIDRs and hostname suffixes nodes may be in; loopback and private ranges need an entry. */
    allow: AllowSchema,
    /** Latency-aware outlier ejection, judged by each isolate from its own traffic; off when absent. */
    latencyEjection: LatencyEjectionSchema.optional(),
    /** Time over which a node returning to rotation ramps up to its full share. */
    slowStartMs: z.int().min(0).max(3_600_000).default(10_000),
    /** Below this share of routable nodes in a scope, route across all its listed nodes (Envoy: 50%). */
    panicThreshold: z.number().min(0).max(1).default(0.5),
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
  });

/** The whole gateway configuration (the ROUNDHOUSE_CONFIG var). */
export const ConfigSchema = z
  .strictObject({
    /** Services the gateway serves. */
    services: z.array(ServiceSchema).default([]),
    /** This deployment's id in peer route sync (the origin of its changes). */
    gatewayId: z
      .string()
      .regex(ORIGIN_PATTERN, "letters, digits and . _ : - only, at most 64")
      .optional(),
    /** Other deployments sharing the route table; peer sync is off while empty. */
    peers: z.array(PeerSchema).max(1_000).default([]),
    /** How route changes fan out to peers. */
    sync: SyncSchema.prefault({}),
    /** Log level and request sampling. */
    logging: LoggingSchema.prefault({}),
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
  });

export type NodeConfig = z.output<typeof NodeSchema>;
export type ServiceConfig = z.output<typeof ServiceSchema>;
export type InvokeSettings = z.output<typeof InvokeSchema>;
export type RoundhouseConfig = z.output<typeof ConfigSchema>;

/** The id a node gets when the config names none: its host and port. */
export function defaultNodeId(url: string): string {
  return new URL(url).host;
}
