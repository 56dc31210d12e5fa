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
  for (const level of levels) {
    const routable = level.nodes.filter((n) => n.healthy && !ejected(n.id));
    if (routable.length === 0) continue;
    const panic = routable.length < panicThreshold * level.nodes.length;
    return { scope: level.scope, nodes: panic ? level.nodes : routable, panic };
  }
  // Nothing routable anywhere: panic over the nearest level that lists anything at all.
  const listed = levels.find((level) => level.nodes.length > 0);
  return { scope: listed?.scope, nodes: listed?.nodes ?? [], panic: listed !== undefined };
}

/**
 * The selection once a dispatch has tried every node of the nearer levels: the first level, in
 * order, whose selection still has an untried node. A dispatch whose scope runs out of nodes goes
 * on into the next level with the same tried-set instead of failing while scope fallback catches
 * up (a rack that goes down whole is still listed, and not yet ejected, for a while).
 */
export function selectUntried(
  levels: readonly MembershipLevel[],
  ejected: (id: string) => boolean,
  panicThreshold: number,
  tried: ReadonlySet<string>,
): Selection {
  let rest = levels;
  while (rest.length > 0) {
    const selection = selectNodes(rest, ejected, panicThreshold);
    if (selection.nodes.some((node) => !tried.has(node.id))) return selection;
    const at = rest.findIndex((level) => level.scope === selection.scope);
    if (at < 0) break;
    rest = rest.slice(at + 1);
  }
  return { scope: undefined, nodes: [], panic: false };
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
