import { z } from "zod";
import {
  type AddressPolicy,
  type AllowEntry,
  checkNodeUrl,
  parseAllowEntry,
} from "../balancer/address-policy.ts";

const bindingName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a binding name: letters, digits and _");

export const EgressSchema = z
  .discriminatedUnion("kind", [
    z
      .strictObject({ kind: z.literal("internet") })
      .describe(
        "The global `fetch`. Once deployed it reaches hostnames only: a deployed Worker cannot fetch an IP address, so IP-literal nodes other than loopback are refused.",
      ),
    z
      .strictObject({ kind: z.literal("vpc-network"), binding: bindingName })
      .describe(
        "`env.NAME.fetch(url)`: a [VPC Network binding](https://developers.cloudflare.com/workers-vpc/configuration/vpc-networks/) reaches any hostname or IP behind its Cloudflare Tunnel or Mesh network, so private IP nodes and discovery work.",
      ),
    z
      .strictObject({ kind: z.literal("vpc-service"), binding: bindingName })
      .describe(
        "`env.NAME.fetch(url)`: a [VPC Service binding](https://developers.cloudflare.com/workers-vpc/configuration/vpc-services/) always reaches its one configured host and port, so it is refused for a service with discovery or more than one node.",
      ),
  ])
  .meta({
    id: "egress",
    description:
      "How a service's outbound requests leave the Worker. A binding the deployment does not have makes the service answer 503 `egress-unavailable` and `GET /_gw/health` answer 503, naming it to the admin token's holder. Cloudflare documents VPC bindings for HTTP `fetch()` only, not for WebSocket upgrades, so a VPC egress has no invocations: an `invoke` block is refused at load and `POST /v1/invoke/{service}` answers 501 `invoke-unavailable`.",
  });

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
