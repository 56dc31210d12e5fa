import { z } from "zod";

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "a header name");
const cookieName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "a cookie name");
const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "the name of a secret (an env var)");

/** Where a request's hash key comes from. */
export const HashKeySchema = z.discriminatedUnion("from", [
  /** A request header's value. */
  z.strictObject({ from: z.literal("header"), name: headerName }),
  /** A request cookie's value. */
  z.strictObject({ from: z.literal("cookie"), name: cookieName }),
  /** The path below the service prefix, query excluded. */
  z.strictObject({ from: z.literal("path") }),
  /** The client's address as Cloudflare saw it (`CF-Connecting-IP`). */
  z.strictObject({ from: z.literal("client-ip") }),
]);

/** Consistent hashing (`policy: "consistent_hash"`): a ring hash with bounded loads. */
export const HashSchema = z.strictObject({
  /** What is hashed; a request without it goes to a random point of the ring. */
  key: HashKeySchema.default({ from: "client-ip" }),
  /** Cap each node's requests in flight at `balanceFactor` times its share of the mean. */
  boundedLoads: z.boolean().default(true),
  /** Most load over the mean a node takes before its keys spill (Envoy's hash_balance_factor: 1.25 as 125). */
  balanceFactor: z.number().min(1).max(10).default(1.25),
  /** Ring points per unit of weight; more spread keys more evenly and cost memory (ketama: 160). */
  pointsPerWeight: z.int().min(1).max(1_000).default(160),
});

/** Cookie-based session affinity, as Cloudflare Load Balancing's `session_affinity: "cookie"`. */
export const AffinitySchema = z.strictObject({
  /** Name of the cookie naming the client's node. */
  cookie: cookieName.default("roundhouse-node"),
  /** Lifetime of the cookie, renewed by every answer (Cloudflare's default: 23 h). */
  ttlSeconds: z.int().min(1).max(31_536_000).default(82_800),
  /** Cookie Path attribute. */
  path: z
    .string()
    .regex(/^\/[!#-:<-~]*$/, "an absolute path without ; or spaces")
    .default("/"),
  /** Cookie Domain attribute; absent: the host that answered. */
  domain: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,253}$/, "a domain name")
    .optional(),
  /** Cookie SameSite attribute. */
  sameSite: z.enum(["Strict", "Lax", "None"]).default("Lax"),
  /** Cookie Secure attribute (needed for SameSite=None). */
  secure: z.boolean().default(true),
  /** Cookie HttpOnly attribute. */
  httpOnly: z.boolean().default(true),
  /** Secret (env var, at least 32 bytes) the cookie is signed with, so a client cannot pick a node. */
  secret: secretName.default("AFFINITY_SECRET"),
});

/** Envoy's retry budget: retries in flight limited to a share of requests in flight. */
export const RetryBudgetSchema = z.strictObject({
  /** Retries in flight at most this percentage of requests in flight (Envoy: 20). */
  percent: z.number().min(0).max(100).default(20),
  /** Retries in flight allowed whatever the share, so light traffic can retry (Envoy: 3). */
  minRetries: z.int().min(0).max(10_000).default(3),
});

/** Sending a request that is safe to repeat to a second node when the first is slow to answer. */
export const HedgeSchema = z.strictObject({
  /** Delay before the hedge: fixed, or the floor of the percentile delay. */
  afterMs: z.int().min(1).max(60_000).default(50),
  /** Hedge after this percentile of the isolate's recent handshake times instead (e.g. 95). */
  percentile: z.number().min(1).max(99.9).optional(),
  /** Handshakes seen before the percentile is trusted; until then `afterMs` applies. */
  minSamples: z.int().min(1).max(512).default(20),
});

export type HashSettings = z.output<typeof HashSchema>;
export type HashKey = z.output<typeof HashKeySchema>;
export type AffinitySettings = z.output<typeof AffinitySchema>;
export type HedgeSettings = z.output<typeof HedgeSchema>;
