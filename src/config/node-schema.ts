import { z } from "zod";
import { NodeUrlSchema } from "../balancer/node-url.ts";

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

export const NodeSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, "letters, digits and . _ : - only, at most 128")
      .optional()
      .describe(
        "Stable name of the node; defaults to the host and port of `url`. See [Node ids](config.md#node-ids).",
      ),
    url: NodeUrlSchema.describe(
      "Where the node listens: an absolute `http://` or `https://` URL with no query and no fragment. A path in it prefixes every forwarded path; see [Node URLs](config.md#node-urls-and-path-prefixes).",
    ),
    dc: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        "Datacenter the node runs in; places the node in routing scopes (see [scope](#scope)).",
      ),
    rack: z.string().min(1).max(64).optional().describe("Rack or zone within the datacenter."),
    weight: z
      .int()
      .min(1)
      .max(100)
      .default(1)
      .describe(
        "Relative share of traffic. Weights are reduced by their greatest common divisor, and a heavy node's turns are spread through the round rather than given back to back.",
      ),
    locationHint: z
      .enum(LOCATION_HINTS)
      .optional()
      .describe(
        "Durable Object location hint for the node's gate, so the gate can be placed near the node. The hint is a preference, and it matters only when the object is first created.",
      ),
  })
  .meta({ id: "node", description: "One backend node of a service." });

export const GateSchema = z
  .strictObject({
    limit: z
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe(
        "Handshakes (from sending the request until its response headers arrive) in progress at one node at once. Further requests wait in arrival order, for at most the time left before the deadline; a request whose wait runs out was not sent and goes to the next node. The body streams without holding the lock.",
      ),
    lease: z
      .boolean()
      .default(true)
      .describe(
        "Lease slots of the limit to isolates, which then send attempts themselves and call the gate only to renew and to report failures (see [capacity leases](architecture.md#capacity-leases)). `false` sends every attempt through the gate. A limit of 1 and lock scope `global` never lease.",
      ),
    leaseTtlMs: z
      .int()
      .min(1_000)
      .max(600_000)
      .default(20_000)
      .describe(
        "How long a lease lasts: the slots of an isolate that dies come back after at most this long. Must exceed `retry.perTryTimeoutMs` when leases are on and the limit is above 1, or no leased slot could hold a handshake.",
      ),
  })
  .meta({
    id: "gate",
    description: "Per-node admission: how many handshakes one node takes at once.",
  });

export const EjectionSchema = z
  .strictObject({
    consecutiveFailures: z
      .int()
      .min(1)
      .max(1_000)
      .default(5)
      .describe(
        "Failures in a row that get a node ejected (Envoy: 5). A failure is a network error, a per-try timeout or any response with status 500–599; a response below 500 ends the run.",
      ),
    baseMs: z
      .int()
      .min(1)
      .max(3_600_000)
      .default(30_000)
      .describe(
        "Length of a first ejection; the n-th ejection in a row lasts n × `baseMs` (Envoy: 30 s).",
      ),
    maxMs: z
      .int()
      .min(1)
      .max(86_400_000)
      .default(300_000)
      .describe(
        "Longest a single ejection lasts (Envoy: 300 s), not below `baseMs`. Also the quiet period after which the ejection count starts over: the first success seen once `maxMs` has passed since the last ejection resets it.",
      ),
    maxEjectedShare: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "Largest share of the service's nodes ejected at once, rounded down, but never less than one node when the service has two or more; `0` turns ejection off. See [Ejection rules](config.md#ejection-rules).",
      ),
  })
  .meta({ id: "ejection", description: "Passive outlier ejection, decided by each node's gate." });

export const LatencyEjectionSchema = z
  .strictObject({
    factor: z
      .number()
      .min(1.1)
      .max(1_000)
      .default(3)
      .describe("Outlier when the node's average exceeds this multiple of the peers' median."),
    minSamples: z
      .int()
      .min(1)
      .max(10_000)
      .default(10)
      .describe("Handshakes a node needs before it is judged."),
    ejectMs: z
      .int()
      .min(1)
      .max(3_600_000)
      .default(10_000)
      .describe(
        "How long an outlier stays out; it is judged afresh when it returns, with slow start.",
      ),
    floorMs: z
      .int()
      .min(0)
      .max(60_000)
      .default(50)
      .describe("Averages below this are never outliers, so fast services do not eject on noise."),
  })
  .meta({
    id: "latencyEjection",
    description:
      "Each isolate keeps an exponentially weighted average of every node's handshake latency (time to response headers, or the per-try timeout) and takes a node out, for this isolate only, while its average exceeds `factor` × the median of its peers. It is capped by `ejection.maxEjectedShare` like passive ejection. Judging against the peers rather than a fixed limit keeps a uniformly slow backend from being emptied.",
  });

export const HealthSchema = z
  .strictObject({
    path: z
      .string()
      .regex(/^\/[^#]*$/, "an absolute path")
      .default("/health")
      .describe("Probed with GET on every node; any 2xx passes."),
    intervalMs: z
      .int()
      .min(50)
      .max(3_600_000)
      .default(2_000)
      .describe("Time between probes of a node (HAProxy `inter 2000`)."),
    timeoutMs: z.int().min(1).max(60_000).default(1_000).describe("Time a probe may take."),
    healthyThreshold: z
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe("Passing probes in a row that bring an unhealthy node back (HAProxy `rise 2`)."),
    unhealthyThreshold: z
      .int()
      .min(1)
      .max(100)
      .default(3)
      .describe("Failing probes in a row that take a healthy node out (HAProxy `fall 3`)."),
  })
  .meta({
    id: "health",
    description:
      "Active health checks of every node, run by the service's LiveNodes object. How discovery, scopes, health, slow start and panic mode work together: [discovery.md](discovery.md).",
  });
