import { z } from "zod";
import { cookieName, headerName, SECRETS, secretName } from "./names.ts";

const HashKeySchema = z
  .discriminatedUnion("from", [
    z
      .strictObject({ from: z.literal("header"), name: headerName })
      .describe("The named request header's value."),
    z
      .strictObject({ from: z.literal("cookie"), name: cookieName })
      .describe("The named cookie's value."),
    z
      .strictObject({ from: z.literal("path") })
      .describe("The path below `/s/{service}`, query excluded. Invocations have none."),
    z
      .strictObject({ from: z.literal("client-ip") })
      .describe("The client's address as Cloudflare saw it (`CF-Connecting-IP`)."),
  ])
  .meta({ id: "hash.key", description: "Where a request's hash key comes from." });

export const HashSchema = z
  .strictObject({
    key: HashKeySchema.default({ from: "client-ip" }).describe(
      "What is hashed. A request without it goes to a random point of the ring.",
    ),
    boundedLoads: z
      .boolean()
      .default(true)
      .describe(
        "Cap each node's requests in flight at `balanceFactor` times its weighted share of the mean; an overloaded owner's keys spill onward. Under every policy, it also caps a node that an affinity cookie pins.",
      ),
    balanceFactor: z
      .number()
      .min(1)
      .max(10)
      .default(1.25)
      .describe("The bound (Envoy's `hash_balance_factor`, given there as a percentage: 125)."),
    pointsPerWeight: z
      .int()
      .min(1)
      .max(1_000)
      .default(160)
      .describe(
        "Ring points per unit of a node's weight; more points spread keys more evenly and cost memory (ketama's figure is 160).",
      ),
  })
  .meta({
    id: "hash",
    description:
      'Consistent hashing (`policy: "consistent_hash"`): a ring hash with bounded loads. See [policies.md](policies.md).',
  });

const GATEWAY_SECRETS: ReadonlySet<string> = new Set(SECRETS);

export const AffinitySchema = z
  .strictObject({
    cookie: cookieName
      .default("roundhouse-node")
      .describe("Name of the cookie naming the client's node."),
    ttlSeconds: z
      .int()
      .min(1)
      .max(31_536_000)
      .default(82_800)
      .describe(
        "Max-Age of the cookie, from when it names a node (Cloudflare Load Balancing's default: 23 hours). The signed value carries its issue time, and the gateway ignores a cookie older than this whatever its Max-Age says.",
      ),
    path: z
      .string()
      .regex(/^\/[!#-:<-~]*$/, "an absolute path without ; or spaces")
      .default("/")
      .describe("Path attribute."),
    domain: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, "a domain name")
      .optional()
      .describe("Domain attribute; absent, the cookie belongs to the host that answered."),
    sameSite: z.enum(["Strict", "Lax", "None"]).default("Lax").describe("SameSite attribute."),
    secure: z
      .boolean()
      .default(true)
      .describe("Secure attribute (browsers require it with `SameSite=None`)."),
    httpOnly: z.boolean().default(true).describe("HttpOnly attribute."),
    bindTo: z
      .enum(["client-ip"])
      .optional()
      .describe(
        "Bind the cookie to the client's address (`CF-Connecting-IP`): presented from another address, it pins nothing and is replaced. Off when absent: a client whose address changes (a phone between networks) then moves to a new node.",
      ),
    secret: secretName
      .default("AFFINITY_SECRET")
      .describe(
        "Secret of at least 32 bytes that signs the cookie (HMAC-SHA256), so a client cannot pick a node. The gateway refuses to run without it, and refuses `ADMIN_TOKEN`, `PEER_SECRET` and `METRICS_TOKEN` here: one secret, one job. A `__Host-` cookie must keep `path` `/` and no `domain`, and a `__Host-` or `__Secure-` one must be `secure`; other settings refuse to load.",
      ),
  })
  .superRefine((affinity, ctx) => {
    // What a browser (and Hono's setCookie, which throws) demands of prefixed names, checked at
    // load so that such a cookie cannot pass validation and then fail every pinned response.
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: "custom", path: [path], message });
    const host = /^__host-/i.test(affinity.cookie);
    if ((host || /^__secure-/i.test(affinity.cookie)) && !affinity.secure) {
      issue("secure", `a cookie named ${affinity.cookie} must be secure`);
    }
    if (host && affinity.path !== "/") issue("path", `a __Host- cookie must have the path "/"`);
    if (host && affinity.domain !== undefined) issue("domain", "a __Host- cookie has no domain");
    // One secret, one job: the admin token or the peer secret signing cookies would let a leak of
    // either forge the other's messages, and a rotation of one break the other.
    if (GATEWAY_SECRETS.has(affinity.secret)) {
      issue("secret", `${affinity.secret} already does another job; name a secret of its own`);
    }
  })
  .meta({
    id: "affinity",
    description:
      'Cookie-based session affinity, as Cloudflare Load Balancing\'s `session_affinity: "cookie"`. See [policies.md](policies.md).',
  });

export const RetryBudgetSchema = z
  .strictObject({
    percent: z
      .number()
      .min(0)
      .max(100)
      .default(20)
      .describe(
        "Retries (and hedges) in flight at most this percentage of the requests in flight, counted per isolate (Envoy: 20%).",
      ),
    minRetries: z
      .int()
      .min(0)
      .max(10_000)
      .default(3)
      .describe(
        "Retries in flight allowed whatever the share, so light traffic can still retry (Envoy: 3).",
      ),
  })
  .meta({
    id: "retry.budget",
    description:
      "Envoy's retry budget. A retry the budget refuses is not sent; the request answers as its last attempt did. See [policies.md](policies.md#retry-budget) for why the count is per isolate.",
  });

export const HedgeSchema = z
  .strictObject({
    afterMs: z
      .int()
      .min(1)
      .max(60_000)
      .default(50)
      .describe(
        "Time without response headers after which the request is sent to another node; the floor of a percentile delay.",
      ),
    percentile: z
      .number()
      .min(1)
      .max(99.9)
      .optional()
      .describe(
        "Hedge after this percentile of the isolate's recent handshake times instead (never below `afterMs`).",
      ),
    minSamples: z
      .int()
      .min(1)
      .max(512)
      .default(20)
      .describe("Handshakes seen before the percentile is trusted; until then `afterMs` applies."),
  })
  .meta({
    id: "retry.hedge",
    description:
      "Sending a request that is safe to repeat to a second node when the first is slow to answer. The first answer that stands wins and the other attempts are cancelled. See [policies.md](policies.md#hedging).",
  });

export type HashSettings = z.output<typeof HashSchema>;
export type HashKey = z.output<typeof HashKeySchema>;
export type AffinitySettings = z.output<typeof AffinitySchema>;
export type HedgeSettings = z.output<typeof HedgeSchema>;
