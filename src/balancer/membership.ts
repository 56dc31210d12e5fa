import type { ScopeLevel } from "./scope.ts";

/** A node as routing sees it. */
export interface MemberNode {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly dc?: string;
  readonly rack?: string;
  /** Passing its active health check (true when the service has none). */
  readonly healthy: boolean;
  /** When it last entered rotation, for slow start (ms since epoch). */
  readonly since: number;
  /** Where its gate object should live (a Durable Object location hint). */
  readonly locationHint?: string;
  /**
   * Drained: by this gateway's operator, no new dispatch goes to it, not even in panic; by a
   * peer gateway's (carried by route sync), it is out as an ejected node is, and back in panic.
   */
  readonly draining?: "operator" | "peer";
}

/** The nodes of one scope level. */
export interface MembershipLevel {
  readonly scope: ScopeLevel;
  readonly nodes: readonly MemberNode[];
}

/** The level a dispatch routes in and the nodes it may use there. */
export interface Selection {
  readonly scope: ScopeLevel | undefined;
  readonly nodes: readonly MemberNode[];
  /** Too few nodes were routable, so every listed node of the level is used (Envoy's panic mode). */
  readonly panic: boolean;
}

/**
 * Picks the first level, in preference order, that has a routable node (healthy and not ejected),
 * so traffic stays as near as it can and returns to the preferred level as soon as it recovers.
 * Within that level, if fewer than `panicThreshold` of the listed nodes are routable, it routes
 * across all of them instead: a few survivors taking everything would fail too, and spreading the
 * load over possibly-bad nodes degrades more gently.
 */
export function selectNodes(
  levels: readonly MembershipLevel[],
  ejected: (id: string) => boolean,
  panicThreshold: number,
): Selection {
  // A node this gateway's operator drains is out whatever else holds: their word outranks panic.
  // A peer's drain weighs no more than a peer's ejection, so it cannot empty a service: with too
  // few nodes left, panic brings the peer-drained back.
  const serving = levels.map((level) => ({
    ...level,
    nodes: level.nodes.filter((n) => n.draining !== "operator"),
  }));
  for (const level of serving) {
    const routable = level.nodes.filter(
      (n) => n.healthy && n.draining === undefined && !ejected(n.id),
    );
    if (routable.length === 0) continue;
    const panic = routable.length < panicThreshold * level.nodes.length;
    return { scope: level.scope, nodes: panic ? level.nodes : routable, panic };
  }
  // Nothing routable anywhere: panic over the nearest level that lists anything at all.
  const listed = serving.find((level) => level.nodes.length > 0);
  return { scope: listed?.scope, nodes: listed?.nodes ?? [], panic: listed !== undefined };
}

/**
 * The selection a retry routes in, given the nodes this dispatch has tried. It stays in the
 * nearest level with a routable node while that level has an untried node and has taken fewer
 * than `perLevel` of the dispatch's attempts; then it moves on to the next level, leaving out the
 * nodes of the levels it left (Envoy's previous_priorities retry predicate). A rack or datacenter
 * that goes down whole stays listed, and not yet ejected, for a while: this is what lets a
 * dispatch reach the next level within its attempts instead of spending them all on the dead
 * level. When every level is spent so, any untried node of any level is still taken.
 */
export function selectUntried(
  levels: readonly MembershipLevel[],
  ejected: (id: string) => boolean,
  panicThreshold: number,
  tried: ReadonlySet<string>,
  perLevel: number,
): Selection {
  const left = new Set<string>();
  const staying = (nodes: readonly MemberNode[]) =>
    nodes.filter((node) => tried.has(node.id)).length < perLevel;
  return (
    walkLevels(levels, ejected, panicThreshold, (selection) => {
      const nodes = selection.nodes.filter((node) => !left.has(node.id));
      if (staying(nodes) && nodes.some((node) => !tried.has(node.id)))
        return { ...selection, nodes };
      for (const node of selection.nodes) left.add(node.id);
      return undefined;
    }) ??
    walkLevels(levels, ejected, panicThreshold, (selection) =>
      selection.nodes.some((node) => !tried.has(node.id)) ? selection : undefined,
    ) ?? { scope: undefined, nodes: [], panic: false }
  );
}

/** The first selection, nearest level first, that `take` accepts. */
function walkLevels(
  levels: readonly MembershipLevel[],
  ejected: (id: string) => boolean,
  panicThreshold: number,
  take: (selection: Selection) => Selection | undefined,
): Selection | undefined {
  let rest = levels;
  while (rest.length > 0) {
    const selection = selectNodes(rest, ejected, panicThreshold);
    const at = rest.findIndex((level) => level.scope === selection.scope);
    if (at < 0) return undefined;
    const taken = take(selection);
    if (taken) return taken;
    rest = rest.slice(at + 1);
  }
  return undefined;
}

/** A node as configured or registered, before health is known. */
export interface DeclaredMember {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly dc?: string;
  readonly rack?: string;
}

/** Levels built from declared nodes alone (no discovery, no health), placed by their labels. */
export function declaredLevels(
  nodes: readonly DeclaredMember[],
  chain: readonly ScopeLevel[],
  inLevel: (node: DeclaredMember, level: ScopeLevel) => boolean,
): MembershipLevel[] {
  return chain.map((scope) => ({
    scope,
    nodes: nodes.filter((n) => inLevel(n, scope)).map((n) => ({ ...n, healthy: true, since: 0 })),
  }));
}
