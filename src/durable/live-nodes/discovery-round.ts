import type { AddressPolicy } from "../../balancer/address-policy.ts";
import { type ScopeLevel, scopeKey } from "../../balancer/scope.ts";
import type { ServiceConfig } from "../../config/schema.ts";
import type { NodeFetcher } from "../../upstream/egress.ts";
import { type DiscoveryCounters, queryLevel, shuffled } from "./discovery.ts";

/** What discovery has learnt, as the live-node object persists it. */
export interface DiscoveredState {
  /** Each level's last applied list, by level key. */
  discovered: Record<string, { urls: string[]; at: number }>;
  /** When an answer last listed each node URL; what ages the lists. */
  confirmedAt: Record<string, number>;
  counters: DiscoveryCounters;
}

/** One round's inputs. */
export interface RoundInput {
  readonly settings: NonNullable<ServiceConfig["discovery"]>;
  /** Levels to ask for, each once, preferred first. */
  readonly levels: readonly ScopeLevel[];
  readonly policy: AddressPolicy;
  readonly via: NodeFetcher;
  /** Request headers resolved from their secrets. */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether a node URL's active health check last passed (true when unknown). */
  readonly healthy: (url: string) => boolean;
  readonly now: number;
  /** Where a refused entry, a failed candidate or a held-back answer is told. */
  readonly warn: (reason: string) => void;
}

/** What a round changed. */
export interface RoundResult {
  /** Whether any level's list changed. */
  readonly moved: boolean;
  /** URLs in some list now that were in none before the round. */
  readonly added: readonly string[];
  /** Whether nothing had been learnt before this round (its nodes are the service's first). */
  readonly first: boolean;
}

/** Known nodes asked per level and round before the seeds; every one of them stays a candidate. */
const KNOWN_ASKS_PER_LEVEL = 8;

/**
 * One discovery round. Every level is asked for, preferred first, so a recovered preferred level
 * is seen on the very next round and the fallback levels are already known when the preferred
 * one fails. Candidates are every node learnt within `staleAfterMs`, healthy ones first, whether
 * or not it is in a list now, then the seeds: a rack that returns while the seeds' rack is down
 * is still asked. A node that fails to answer is skipped for the rest of the round.
 */
export async function discoveryRound(
  state: DiscoveredState,
  input: RoundInput,
): Promise<RoundResult> {
  const { settings, now } = input;
  const before = new Set(listedUrls(state));
  const first = Object.keys(state.confirmedAt).length === 0;
  const seeds = settings.seeds.map((s) => new URL(s).origin);
  const seedSet = new Set(seeds);
  const rules = {
    scheme: settings.scheme,
    port:
      settings.port ??
      Number(new URL(settings.seeds[0] as string).port || defaultPort(settings.scheme)),
  };
  const failed = new Set<string>();
  let moved = false;
  for (const level of input.levels) {
    const known = Object.keys(state.confirmedAt).map((url) => new URL(url).origin);
    const healthy = shuffled(known.filter((origin) => input.healthy(origin)));
    const rest = shuffled(known.filter((origin) => !input.healthy(origin)));
    const query = {
      level,
      failed,
      path: settings.path,
      timeoutMs: settings.timeoutMs,
      rules,
      policy: input.policy,
      maxAnswerBytes: settings.maxAnswerBytes,
      headers: input.headers,
      seeds: seedSet,
      via: input.via,
      warn: input.warn,
    };
    const urls =
      level.kind === "cluster"
        ? await clusterUnion(query, [...healthy, ...rest], shuffled(seeds), state.counters)
        : await queryLevel(
            {
              ...query,
              candidates: [
                ...new Set([
                  ...[...healthy, ...rest].slice(0, KNOWN_ASKS_PER_LEVEL),
                  ...shuffled(seeds),
                ]),
              ],
            },
            state.counters,
          );
    if (urls === undefined) continue;
    const fresh = urls.filter((url) => state.confirmedAt[url] === undefined);
    if (!first && fresh.length > settings.maxNewNodes) {
      // A compromised or confused node must not flood the list; the old list stands meanwhile.
      state.counters.heldBack++;
      state.counters.lastFailure =
        `${scopeKey(level)}: answer held back, it would add ${fresh.length} new nodes at once ` +
        `(maxNewNodes ${settings.maxNewNodes})`;
      input.warn(state.counters.lastFailure);
      continue;
    }
    for (const url of urls) state.confirmedAt[url] = now;
    state.counters.lastGoodAt = now;
    moved = storeLevel(state, scopeKey(level), urls, now) || moved;
  }
  moved = expireStale(state, now - settings.staleAfterMs) || moved;
  const added = listedUrls(state).filter((url) => !before.has(url));
  return { moved, added, first };
}

/**
 * The cluster level's list: the union of the parameterless answers of one live node from every
 * group of answers, and of every seed. A node answers that question with its own datacenter
 * (Alternator does), so one answer is one datacenter; a candidate already listed by an answer of
 * this round is in a group that answered and is not asked. Known nodes (every one learnt within
 * `staleAfterMs`, healthy first) are asked before the seeds, so a datacenter learnt once keeps
 * being asked while its seed is down. Undefined when no candidate answered.
 */
async function clusterUnion(
  query: Omit<Parameters<typeof queryLevel>[0], "candidates">,
  known: readonly string[],
  seeds: readonly string[],
  counters: DiscoveredState["counters"],
): Promise<string[] | undefined> {
  const union = new Set<string>();
  const covered = new Set<string>();
  let answered = false;
  for (const origin of new Set([...known, ...seeds])) {
    if (covered.has(origin) || query.failed.has(origin)) continue;
    const urls = await queryLevel({ ...query, candidates: [origin] }, counters);
    if (urls === undefined) continue;
    answered = true;
    covered.add(origin);
    for (const url of urls) {
      union.add(url);
      covered.add(new URL(url).origin);
    }
  }
  return answered ? [...union].sort() : undefined;
}

/**
 * The levels one round asks for: every level of every chain in use, each once, preferred first,
 * and at the cluster level every datacenter the configuration names.
 */
export function roundLevels(
  chains: readonly (readonly ScopeLevel[])[],
  datacenters: readonly string[],
): ScopeLevel[] {
  const levels = new Map<string, ScopeLevel>();
  for (const level of chains.flat()) {
    levels.set(scopeKey(level), level);
    if (level.kind !== "cluster") continue;
    for (const dc of datacenters) levels.set(scopeKey({ kind: "dc", dc }), { kind: "dc", dc });
  }
  return [...levels.values()];
}

/** Every URL in some level's list, once each. */
export function listedUrls(state: {
  readonly discovered: Readonly<Record<string, { readonly urls: readonly string[] }>>;
}): string[] {
  return [...new Set(Object.values(state.discovered).flatMap((d) => d.urls))];
}

function storeLevel(state: DiscoveredState, key: string, urls: string[], now: number): boolean {
  const before = state.discovered[key]?.urls;
  state.discovered[key] = { urls, at: now };
  return before === undefined || before.join() !== urls.join();
}

/** Drops nodes no answer has listed since `cutoff`, from the lists and from the candidates. */
function expireStale(state: DiscoveredState, cutoff: number): boolean {
  let moved = false;
  const expired = new Set<string>();
  for (const level of Object.values(state.discovered)) {
    const kept = level.urls.filter((url) => (state.confirmedAt[url] ?? 0) >= cutoff);
    if (kept.length === level.urls.length) continue;
    for (const url of level.urls) if (!kept.includes(url)) expired.add(url);
    level.urls = kept;
    moved = true;
  }
  for (const [url, at] of Object.entries(state.confirmedAt)) {
    if (at < cutoff) delete state.confirmedAt[url];
  }
  state.counters.expired += expired.size;
  return moved;
}

function defaultPort(scheme: string): number {
  return scheme === "https" ? 443 : 80;
}
