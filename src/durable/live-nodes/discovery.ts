import type { AddressPolicy } from "../../balancer/address-policy.ts";
import { type AddressRules, parseLocalNodes } from "../../balancer/localnodes.ts";
import { type ScopeLevel, scopeQuery } from "../../balancer/scope.ts";
import { envValue } from "../../config/env-value.ts";
import { readLimited } from "../../http/limited-body.ts";
import { tornDown } from "../../http/torn-down.ts";
import type { NodeFetcher } from "../../upstream/egress.ts";

/** Counters of the discovery traffic one live-node object has made, for the services API. */
export interface DiscoveryCounters {
  /** Rounds of refresh. */
  rounds: number;
  /** Requests to seeds and to known nodes. */
  requests: number;
  /** Answers rejected: error status, timeout, network error, or a malformed or oversized list. */
  failures: number;
  /** Entries dropped from answers by the address policy or as malformed. */
  refusedEntries: number;
  /** Answers held back because they would have added too many new nodes at once. */
  heldBack: number;
  /** Discovered nodes dropped because no answer confirmed them within `staleAfterMs`. */
  expired: number;
  /** When an answer was last applied (ms since epoch; 0 before the first). */
  lastGoodAt: number;
  /** The last rejection, for operators. */
  lastFailure?: string;
  /** The last dropped entry and its reason, for operators. */
  lastRefused?: string;
}

/** Counters before the first round. */
export function noDiscoveryCounts(): DiscoveryCounters {
  return {
    rounds: 0,
    requests: 0,
    failures: 0,
    refusedEntries: 0,
    heldBack: 0,
    expired: 0,
    lastGoodAt: 0,
  };
}

/** Discovery request headers, each read from the secret (env var) it names. */
export function secretHeaders(
  env: Env,
  names: Readonly<Record<string, string>>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [header, secret] of Object.entries(names)) {
    const value = envValue(env, secret);
    if (typeof value !== "string") {
      throw new Error(`discovery header ${header}: secret ${secret} is not set`);
    }
    headers[header] = value;
  }
  return headers;
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
  readonly policy: AddressPolicy;
  readonly maxAnswerBytes: number;
  /**
   * Credentials: sent only to a seed (the operator named it) or over https, never in the clear
   * to a node that an answer, which anyone at a listed address can write, put in the list.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Seed origins: the candidates the headers may reach over plain http. */
  readonly seeds: ReadonlySet<string>;
  readonly via: NodeFetcher;
  /** Where a refused entry or a failed candidate is told. */
  readonly warn: (reason: string) => void;
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
    const carries = query.seeds.has(origin) || origin.startsWith("https:");
    const answer = await askOnce(url, query, carries ? query.headers : {});
    if (typeof answer !== "string") {
      counters.refusedEntries += answer.refused.length;
      for (const { entry, reason } of answer.refused) {
        counters.lastRefused = `${url}: ${JSON.stringify(entry)} ${reason}`;
        query.warn(counters.lastRefused);
      }
      return answer.urls;
    }
    counters.failures++;
    counters.lastFailure = `${url}: ${answer}`;
    query.warn(counters.lastFailure);
    query.failed.add(origin);
  }
  return undefined;
}

async function askOnce(
  url: string,
  query: LevelQuery,
  credentials: Readonly<Record<string, string>>,
): Promise<{ urls: string[]; refused: { entry: string; reason: string }[] } | string> {
  /** The answer was read to its end: the node holds nothing of this request any more. */
  let readWhole = false;
  try {
    const response = await query.via(url, {
      signal: AbortSignal.timeout(query.timeoutMs),
      headers: { accept: "application/json", ...credentials },
      redirect: "manual",
    });
    if (!response.ok) {
      await response.body?.cancel();
      return `status ${response.status}`;
    }
    const read = await readLimited(response.body, query.maxAnswerBytes);
    if (!read.ok) return `answer ${read.reason}`;
    readWhole = true;
    const answer = parseLocalNodes(new TextDecoder().decode(read.bytes), query.rules, query.policy);
    return answer.ok ? answer : answer.reason;
  } catch (error) {
    return (error as Error).name === "TimeoutError"
      ? `no answer within ${query.timeoutMs} ms`
      : String(error);
  } finally {
    // The next candidate is asked only once a hung one's connection is closed.
    if (!readWhole) await tornDown();
  }
}

/**
 * One active health probe: any 2xx within the timeout passes. It returns, freeing its turn among
 * the six probes at once, only after the connection of a probe given up on (or whose body it
 * cancels) is closed, so a hung node is never holding more probes than that.
 */
export async function probe(via: NodeFetcher, url: string, timeoutMs: number): Promise<boolean> {
  try {
    const response = await via(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300;
  } catch {
    return false;
  } finally {
    await tornDown();
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
