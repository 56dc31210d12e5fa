import { type AddressRules, parseLocalNodes } from "../balancer/localnodes.ts";
import { type ScopeLevel, scopeQuery } from "../balancer/scope.ts";

/** Counters of the discovery traffic one live-node object has made, for the services API. */
export interface DiscoveryCounters {
  /** Rounds of refresh. */
  rounds: number;
  /** Requests to seeds and to known nodes. */
  requests: number;
  /** Answers rejected: error status, timeout, network error, or a malformed list. */
  failures: number;
  /** The last rejection, for operators. */
  lastFailure?: string;
}

/** Where and how to ask for one level's node list. */
export interface LevelQuery {
  readonly level: ScopeLevel;
  /** Origins to ask, in order; the first valid answer wins. */
  readonly candidates: readonly string[];
  /** Origins that already failed this round: skipped. */
  readonly failed: Set<string>;
  readonly path: string;
  readonly timeoutMs: number;
  readonly rules: AddressRules;
}

/**
 * Asks the candidates one at a time for the level's node list, skipping any that fail, and
 * returns the first valid list (possibly empty: the level has no node), or undefined when nobody
 * gave a usable answer, in which case the caller keeps the list it had.
 */
export async function queryLevel(
  query: LevelQuery,
  counters: DiscoveryCounters,
): Promise<string[] | undefined> {
  for (const origin of query.candidates) {
    if (query.failed.has(origin)) continue;
    counters.requests++;
    const url = `${origin}${query.path}${scopeQuery(query.level)}`;
    const failure = await askOnce(url, query);
    if (Array.isArray(failure)) return failure;
    counters.failures++;
    counters.lastFailure = `${url}: ${failure}`;
    console.warn(`discovery: ${url}: ${failure}`);
    query.failed.add(origin);
  }
  return undefined;
}

async function askOnce(url: string, query: LevelQuery): Promise<string[] | string> {
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(query.timeoutMs),
      headers: { accept: "application/json" },
    });
    const body = await response.text();
    if (!response.ok) return `status ${response.status}`;
    const answer = parseLocalNodes(body, query.rules);
    return answer.ok ? answer.urls : answer.reason;
  } catch (error) {
    return (error as Error).name === "TimeoutError"
      ? `no answer within ${query.timeoutMs} ms`
      : String(error);
  }
}

/** One active health probe: any 2xx within the timeout passes. */
export async function probe(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300;
  } catch {
    return false;
  }
}

/** A copy of `items` in random order (Fisher–Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
