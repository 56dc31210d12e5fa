import { z } from "zod";
import {
  type AddressPolicy,
  type AllowEntry,
  checkNodeUrl,
  parseAllowEntry,
} from "../balancer/address-policy.ts";

/** One node URL schema for config, admin registrations and peer records: no query, no fragment. */
export const NodeUrlSchema = z
  .url({ protocol: /^https?$/, error: "must be an absolute http:// or https:// URL" })
  .refine((u) => !/[?#]/.test(u), "must not carry a query or fragment");

const bindingName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a binding name: letters, digits and _");

/** How a service's outbound requests leave the Worker. */
export const EgressSchema = z.discriminatedUnion("kind", [
  /** The global fetch: public hostnames only once deployed. */
  z.strictObject({ kind: z.literal("internet") }),
  /** A Workers VPC Network binding: any host or IP behind its tunnel or Mesh network. */
  z.strictObject({ kind: z.literal("vpc-network"), binding: bindingName }),
  /** A Workers VPC Service binding: the one host and port configured for it. */
  z.strictObject({ kind: z.literal("vpc-service"), binding: bindingName }),
]);

export type EgressConfig = z.output<typeof EgressSchema>;

/** CIDRs (`10.0.0.0/8`, `fd00::/8`) and hostname suffixes (`nodes.internal`) nodes may be in. */
export const AllowSchema = z
  .array(
    z.string().superRefine((raw, ctx) => {
      const entry = parseAllowEntry(raw);
      if ("error" in entry) ctx.addIssue({ code: "custom", message: entry.error });
    }),
  )
  .max(256)
  .default([]);

/** The address policy of a service, from its `egress` and `allow`. */
export function addressPolicyOf(service: {
  readonly egress: EgressConfig;
  readonly allow: readonly string[];
}): AddressPolicy {
  const allow = service.allow
    .map(parseAllowEntry)
    .filter((entry): entry is AllowEntry => !("error" in entry));
  return { egress: service.egress.kind, allow };
}

interface NetworkedService {
  readonly egress: EgressConfig;
  readonly allow: readonly string[];
  readonly nodes: readonly { readonly url: string }[];
  readonly discovery?: { readonly seeds: readonly string[] } | undefined;
  readonly invoke?: unknown;
}

/** Config checks of a service's addresses and egress, reported at the field they concern. */
export function checkServiceNetwork(service: NetworkedService, ctx: z.RefinementCtx): void {
  const policy = addressPolicyOf(service);
  const check = (url: string, path: (string | number)[]) => {
    // A URL the schema already refused needs no second message.
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) return;
    const verdict = checkNodeUrl(url, policy);
    if (!verdict.ok) ctx.addIssue({ code: "custom", path, message: verdict.reason });
  };
  for (const [i, node] of service.nodes.entries()) check(node.url, ["nodes", i, "url"]);
  for (const [i, seed] of (service.discovery?.seeds ?? []).entries()) {
    check(seed, ["discovery", "seeds", i]);
  }
  if (service.egress.kind === "internet") return;
  if (service.invoke !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["invoke"],
      message:
        "invocations run over a WebSocket per node, and Workers VPC bindings are documented " +
        "for HTTP fetch() only; use internet egress for a service that takes invocations",
    });
  }
  if (service.egress.kind === "vpc-service" && (service.discovery || service.nodes.length > 1)) {
    ctx.addIssue({
      code: "custom",
      path: ["egress"],
      message:
        "a VPC Service binding always reaches its one configured host and port, whatever URL is " +
        'fetched; use "vpc-network" for several nodes or discovery',
    });
  }
}
