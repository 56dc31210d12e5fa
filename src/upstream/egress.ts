import { envValue } from "../config/env-value.ts";
import type { EgressConfig } from "../config/network-schema.ts";
import { fail, problem } from "../http/problem.ts";

/** How a request leaves for a node: the global fetch, or a Workers VPC binding's. */
export type NodeFetcher = (url: string, init: RequestInit) => Promise<Response>;

const internet: NodeFetcher = (url, init) => fetch(url, init);

/** A binding in `env` that fetches: a VPC Network or VPC Service binding, or a stand-in for one. */
function fetcherIn(env: Env, name: string): { fetch: NodeFetcher } | undefined {
  const binding = envValue(env, name);
  const candidate = binding as { fetch?: unknown } | undefined;
  return typeof candidate?.fetch === "function" ? (candidate as { fetch: NodeFetcher }) : undefined;
}

/** The binding an egress names that `env` lacks, if any. */
export function missingBinding(env: Env, egress: EgressConfig): string | undefined {
  if (egress.kind === "internet") return undefined;
  return fetcherIn(env, egress.binding) ? undefined : egress.binding;
}

/**
 * The one way out to a node, for proxied attempts on either path, health probes, discovery and
 * stream upgrades. Throws when the egress names a binding the deployment does not have.
 */
export function nodeFetcher(env: Env, egress: EgressConfig): NodeFetcher {
  if (egress.kind === "internet") return internet;
  const binding = fetcherIn(env, egress.binding);
  if (!binding) throw new Error(`the ${egress.kind} binding "${egress.binding}" is not bound`);
  return (url, init) => binding.fetch(url, init);
}

/** Refuses a request for a service whose egress binding is missing: 503, naming the binding. */
export function requireEgress(env: Env, service: string, egress: EgressConfig): void {
  const missing = missingBinding(env, egress);
  if (missing === undefined) return;
  const why =
    `service "${service}" reaches its nodes through the ${egress.kind} binding "${missing}", ` +
    "which this deployment does not have; add it to wrangler.toml (docs/deploy.md)";
  fail(
    problem({
      status: 503,
      type: "egress-unavailable",
      title: "Egress binding missing",
      detail: why,
      extensions: { binding: missing },
    }),
  );
}
