import type { PeerConfig } from "../../config/sync-schema.ts";
import type { Digest } from "../../sync/digest.ts";
import { encodeStamp } from "../../sync/hlc.ts";
import {
  type BackoffPolicy,
  nextRetryDelay,
  type PeerOutcome,
  requestTimeoutMs,
} from "../../sync/retry-policy.ts";
import type { Change } from "../../sync/route-table.ts";
import { changesBody, parseDigest, parseRoutesSince } from "../../sync/wire.ts";
import type { PeerAnswer, PeerClient } from "./peer-client.ts";
import type { RemoteApplyResult } from "./route-sync.ts";

/** How one request to a peer ended, retries included. */
export type Attempt = { ok: true; answer: PeerAnswer } | { ok: false; message: string };

/** Pull pages per reconcile with one peer, at most (each page up to 256 changes). */
const MAX_PULL_PAGES = 64;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The requests a fan-out shard makes of one peer: a signed request retried per the policy, and
 * the three reconcile steps built on it (fetch the digest, push buckets, pull buckets).
 */
export class PeerExchange {
  readonly #client: PeerClient;
  readonly #counters: { retries: number };

  constructor(client: PeerClient, counters: { retries: number }) {
    this.#client = client;
    this.#counters = counters;
  }

  /**
   * One request to a peer, retried per the policy while the outcome is transient and the peer's
   * deadline (from `start`) allows. Each attempt is signed afresh (a new nonce and timestamp).
   */
  async send(
    peer: PeerConfig,
    method: "GET" | "POST",
    pathAndQuery: string,
    body: string,
    policy: BackoffPolicy,
    start: number,
  ): Promise<Attempt> {
    for (let retries = 0; ; retries++) {
      const timeoutMs = requestTimeoutMs(policy, Date.now() - start);
      if (timeoutMs <= 0) return { ok: false, message: "peer deadline passed" };
      const { outcome, answer } = await this.#client.request(
        peer,
        method,
        pathAndQuery,
        body,
        timeoutMs,
      );
      if (answer) return { ok: true, answer };
      const delay = nextRetryDelay(outcome, retries, Date.now() - start, policy);
      if (delay === undefined) return { ok: false, message: describe(outcome) };
      this.#counters.retries++;
      await sleep(delay);
    }
  }

  async fetchDigest(peer: PeerConfig, policy: BackoffPolicy): Promise<Digest> {
    const got = await this.send(peer, "GET", "/_gw/peer/digest", "", policy, Date.now());
    if (!got.ok) throw new Error(`digest: ${got.message}`);
    const parsed = parseDigest(got.answer.text);
    if (!parsed.ok) throw new Error(`digest: malformed answer (${parsed.issues[0]?.message})`);
    return parsed.value;
  }

  /** Sends a reconcile's changes in batches; throws on the first failure. */
  async pushBuckets(
    origin: string,
    batchSize: number,
    peer: PeerConfig,
    policy: BackoffPolicy,
    changes: readonly Change[],
  ): Promise<void> {
    for (let i = 0; i < changes.length; i += batchSize) {
      const body = JSON.stringify(changesBody(origin, changes.slice(i, i + batchSize)));
      const sent = await this.send(peer, "POST", "/_gw/peer/changes", body, policy, Date.now());
      if (!sent.ok) throw new Error(`push: ${sent.message}`);
    }
  }

  /** Pulls the peer's changes of the given buckets, page by page, into `apply`. */
  async pullBuckets(
    peer: PeerConfig,
    policy: BackoffPolicy,
    buckets: readonly number[],
    apply: (changes: Change[]) => Promise<RemoteApplyResult>,
  ): Promise<void> {
    let since: string | undefined;
    for (let page = 0; page < MAX_PULL_PAGES; page++) {
      const query = `?buckets=${buckets.join(",")}${since ? `&since=${since}` : ""}`;
      const got = await this.send(peer, "GET", `/_gw/peer/routes${query}`, "", policy, Date.now());
      if (!got.ok) throw new Error(`pull: ${got.message}`);
      const parsed = parseRoutesSince(got.answer.text);
      if (!parsed.ok) throw new Error(`pull: malformed answer (${parsed.issues[0]?.message})`);
      const last = parsed.value.changes.at(-1);
      if (parsed.value.changes.length > 0) {
        const result = await apply(parsed.value.changes);
        if (result.status !== "applied") throw new Error(`pull: ${result.status}`);
      }
      if (!parsed.value.more || !last) return;
      since = encodeStamp(last.stamp);
    }
  }
}

function describe(outcome: PeerOutcome): string {
  switch (outcome.kind) {
    case "status":
      return `answered ${outcome.status}`;
    case "timeout":
      return "timed out";
    case "bad-answer":
      return outcome.detail;
    default:
      return "network error";
  }
}
