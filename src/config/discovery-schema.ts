import { z } from "zod";
import { NodeUrlSchema } from "../balancer/node-url.ts";
import { headerName, scopeName, secretName } from "./names.ts";

export const DiscoverySchema = z
  .strictObject({
    seeds: z
      .array(NodeUrlSchema)
      .min(1)
      .max(64)
      .describe("Where to ask for the node list first, and again whenever no known node answers."),
    path: z
      .string()
      .regex(/^\/[^?#]*$/, "an absolute path without query")
      .default("/localnodes")
      .describe("Path of the node list on seeds and nodes."),
    scheme: z.enum(["http", "https"]).default("http").describe("Scheme of discovered node URLs."),
    port: z
      .int()
      .min(1)
      .max(65_535)
      .optional()
      .describe("Port combined with bare IP entries; absent, the first seed's port."),
    activeIntervalMs: z
      .int()
      .min(50)
      .max(3_600_000)
      .default(1_000)
      .describe(
        "Refresh period while the service has traffic. Also how long an isolate trusts its cached node list.",
      ),
    idleIntervalMs: z
      .int()
      .min(50)
      .max(86_400_000)
      .default(60_000)
      .describe("Refresh period once the service has had no traffic for this long."),
    timeoutMs: z
      .int()
      .min(1)
      .max(60_000)
      .default(5_000)
      .describe("Time one discovery request may take."),
    datacenters: z
      .array(scopeName)
      .max(64)
      .default([])
      .describe(
        "Datacenters asked for with `?dc=` at the cluster level, beside the answering node's own: Alternator's answers name addresses only, so the other datacenters must be named. Those `scope` and the configured nodes name are asked anyway.",
      ),
    headers: z
      .record(headerName, secretName)
      .default({})
      .describe(
        'Request headers of every discovery request, each value read from the secret (env var) named, e.g. `{ "authorization": "DISCOVERY_TOKEN" }` with the secret holding `Bearer …`. A missing secret fails the round, counted.',
      ),
    maxAnswerBytes: z
      .int()
      .min(64)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024)
      .describe(
        "Largest answer read. Bytes are counted as the answer streams, and reading stops at the limit; the answer is then rejected.",
      ),
    maxNewNodes: z
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe(
        "Most nodes one answer may add at once. A larger influx is held back (the old list stands) and counted, so one compromised node cannot flood the list. The service's first answer is exempt.",
      ),
    staleAfterMs: z
      .int()
      .min(1_000)
      .max(7 * 86_400_000)
      .default(300_000)
      .describe(
        "A discovered node no answer has listed for this long leaves the lists and is no longer asked (Envoy's `endpoint_stale_after`); above `idleIntervalMs`. Until then every node learnt is a discovery candidate, whether or not it is in a list now.",
      ),
  })
  .meta({
    id: "discovery",
    description:
      "Learning nodes from seeds' `/localnodes` (the ScyllaDB Alternator format), beside or instead of `nodes`. See [discovery.md](discovery.md).",
  });

export const ScopeSchema = z
  .strictObject({
    dc: scopeName.optional().describe("Preferred datacenter."),
    rack: scopeName.optional().describe("Preferred rack; needs `dc`."),
    fallback: z
      .array(z.enum(["rack", "dc", "cluster"]))
      .min(1)
      .default(["rack", "dc", "cluster"])
      .describe(
        "Levels tried in order while the preferred one has no live node. A level the preference cannot fill is skipped; the cluster always stays as the last resort.",
      ),
    allowHeader: z
      .boolean()
      .default(false)
      .describe(
        "Whether a request may choose its scope with `x-roundhouse-scope: dc=NAME;rack=NAME` (a malformed header is a 400).",
      ),
    dcByContinent: z
      .record(z.string(), scopeName)
      .default({})
      .describe(
        'Preferred datacenter by the caller\'s continent, `request.cf.continent` (e.g. `{"EU": "eu-west"}`).',
      ),
    dcByColo: z
      .record(z.string(), scopeName)
      .default({})
      .describe(
        "Preferred datacenter by `request.cf.colo`, the Cloudflare location that took the request (e.g. `AMS`); wins over the continent.",
      ),
  })
  .refine((s) => !s.rack || s.dc, { path: ["rack"], message: "a rack needs its dc" })
  .meta({
    id: "scope",
    description: "Which nodes a service prefers, and where it turns when they are gone.",
  });
