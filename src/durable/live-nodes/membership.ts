import { type AddressPolicy, checkNodeUrl } from "../../balancer/address-policy.ts";
import type { ProbeState } from "../../balancer/health-probe.ts";
import type { MemberNode, MembershipLevel } from "../../balancer/membership.ts";
import { inScope, type ScopeLevel, scopeKey } from "../../balancer/scope.ts";
import { addressPolicyOf } from "../../config/network-schema.ts";
import type { DeclaredNode, KeptSetting, LiveNodesConfig } from "./contract.ts";
import { listedUrls } from "./discovery-round.ts";

/** The part of a LiveNodes object's state that its membership is read from. */
export interface MembershipState {
  readonly config?: LiveNodesConfig;
  readonly registered: readonly DeclaredNode[];
  readonly discovered: Readonly<Record<string, { readonly urls: readonly string[] }>>;
  readonly probes: Readonly<Record<string, ProbeState>>;
  readonly firstSeen: Readonly<Record<string, number>>;
  readonly settings: Readonly<Record<string, KeptSetting>>;
}

/**
 * How a LiveNodes object turns what it knows (configured, registered and discovered nodes, probe
 * results) into the nodes of each scope level. Every URL passes the service's address policy on
 * the way out, however it arrived, so a policy that tightens applies at once.
 */
export class LiveMembership {
  readonly #state: () => MembershipState;
  #policy?: { json: string; policy: AddressPolicy };

  constructor(state: () => MembershipState) {
    this.#state = state;
  }

  /** The service's address policy, parsed once per configuration. */
  policy(): AddressPolicy {
    const config = this.#state().config;
    const json = JSON.stringify([config?.egress, config?.allow]);
    if (this.#policy?.json !== json) {
      const policy = addressPolicyOf({
        egress: config?.egress ?? { kind: "internet" },
        allow: config?.allow ?? [],
      });
      this.#policy = { json, policy };
    }
    return this.#policy.policy;
  }

  admits(url: string): boolean {
    return checkNodeUrl(url, this.policy()).ok;
  }

  /** Configured nodes and the registered ones the policy admits (a peer's included). */
  declared(): DeclaredNode[] {
    const state = this.#state();
    const registered = state.registered.filter((node) => this.admits(node.url));
    return [...(state.config?.nodes ?? []), ...registered];
  }

  /** Configured, registered and every discovered node, once each. */
  allNodes(): DeclaredNode[] {
    const declared = this.declared();
    const byUrl = new Set(declared.map((n) => n.url));
    const discovered = listedUrls(this.#state())
      .filter((url) => !byUrl.has(url) && this.admits(url))
      .map((url) => ({ id: hostOf(url), url, weight: 1 }));
    return [...declared, ...discovered];
  }

  /** The nodes of each level of `chain`. */
  levels(chain: readonly ScopeLevel[]): MembershipLevel[] {
    const state = this.#state();
    const declared = this.declared();
    const datacenters = state.config?.discovery?.datacenters ?? [];
    const declaredUrls = new Set(declared.map((node) => node.url));
    return chain.map((level) => {
      // Declared nodes by id (two ids may share a URL), discovered ones by URL, never twice.
      const nodes = new Map<string, MemberNode>();
      for (const node of declared) if (inScope(node, level)) nodes.set(node.id, this.#member(node));
      // The cluster is every datacenter asked for, not only the answering node's own.
      const sources: ScopeLevel[] =
        level.kind === "cluster"
          ? [level, ...datacenters.map((dc) => ({ kind: "dc" as const, dc }))]
          : [level];
      for (const source of sources) {
        for (const url of state.discovered[scopeKey(source)]?.urls ?? []) {
          const id = hostOf(url);
          if (declaredUrls.has(url) || nodes.has(id) || !this.admits(url)) continue;
          nodes.set(id, this.#member({ id, url, weight: 1, ...labelsOf(source) }));
        }
      }
      return { scope: level, nodes: [...nodes.values()] };
    });
  }

  #member(node: DeclaredNode): MemberNode {
    const state = this.#state();
    const probe = state.probes[node.id];
    const firstSeen = state.firstSeen[node.id] ?? 0;
    const setting = state.settings[node.id];
    return {
      ...node,
      weight: setting?.weight ?? node.weight,
      healthy: probe?.healthy ?? true,
      since: Math.max(firstSeen, probe?.healthy ? probe.since : 0),
      ...(setting?.draining ? { draining: setting.drainedBy ?? "operator" } : {}),
    };
  }
}

/** A discovered node's id: its host and port. */
export function hostOf(url: string): string {
  return new URL(url).host;
}

function labelsOf(level: ScopeLevel): { dc?: string; rack?: string } {
  if (level.kind === "rack") return { dc: level.dc, rack: level.rack };
  if (level.kind === "dc") return { dc: level.dc };
  return {};
}
