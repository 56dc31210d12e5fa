import { DurableObject } from "cloudflare:workers";
import type { PeerConfig, SyncSettings } from "../config/sync-schema.ts";
import { backoffPolicyOf } from "../config/sync-schema.ts";
import { logOf } from "../logging/log-of.ts";
import { diffDigests } from "../sync/digest.ts";
import { sliceAfter } from "../sync/fanout.ts";
import { encodeStamp, type Stamp } from "../sync/hlc.ts";
import { PeerQueue, type PeerSnapshot, type PeerStatus } from "../sync/peer-queue.ts";
import {
  type BackoffPolicy,
  nextRetryDelay,
  type PeerOutcome,
  requestTimeoutMs,
} from "../sync/retry-policy.ts";
import { type Change, compareChanges, parseRouteKey, RouteTable } from "../sync/route-table.ts";
import { changesBody, parseDigest, parseRoutesSince } from "../sync/wire.ts";
import { eachLimited } from "../util/each-limited.ts";
import { type PeerAnswer, PeerClient } from "./peer-client.ts";
import { routeSyncOf } from "./stubs.ts";

/** What RouteSync hands a shard: its peers and how to reach them. */
export interface ShardConfig {
  readonly gatewayId: string;
  readonly index: number;
  /** Requests this shard may have in flight at once (at most 6, a Worker invocation's limit). */
  readonly limit: number;
  readonly peers: readonly PeerConfig[];
  readonly settings: SyncSettings;
}

/** Counters for tests and the bench. */
export interface ShardStats {
  /** Peers this shard serves, and the requests it may have in flight at once. */
  readonly peers: number;
  readonly limit: number;
  /** Requests sent to peers (pushes, digests, pulls), retries included. */
  readonly requests: number;
  /** Requests that were retries within a round. */
  readonly retries: number;
  /** Batches a peer acknowledged. */
  readonly acks: number;
  /** Rounds that left a peer dirty. */
  readonly failedRounds: number;
  /** Requests in flight now, and the most ever at once. */
  readonly inFlight: number;
  readonly peakInFlight: number;
  /** Reconcile rounds with a peer, and those whose digests differed. */
  readonly reconciles: number;
  readonly reconcileDiffs: number;
  readonly alarms: number;
}

/** One peer as the services API shows it. */
export interface PeerView {
  readonly peer: string;
  readonly shard: number;
  /** Changes (of the service asked about, or all) the peer has not acknowledged. */
  readonly pending: number;
  /** Keys of those changes, at most 20. */
  readonly pendingKeys: string[];
  readonly cursor: string | null;
  readonly lastSyncedAt: number | null;
  readonly lastReconciledAt: number | null;
  readonly failures: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  readonly nextAttemptAt: number;
}

type Attempt = { ok: true; answer: PeerAnswer } | { ok: false; message: string };

const CONFIG_KEY = "config";
const QUEUE_KEY = "queue";
const RECONCILE_KEY = "reconcile";
/** Changes asked of RouteSync per call when refreshing the mirror. */
const MIRROR_PAGE = 512;
/** Pull pages per reconcile with one peer, at most (each page up to 256 changes). */
const MAX_PULL_PAGES = 64;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One of a gateway's fan-out objects (`sync:<gatewayId>:shard-<i>`), holding the queues of the
 * peers whose name hashes to it. On its alarm it pushes each due peer's pending changes in
 * batches, signed, at most `limit` requests at once (a Worker invocation may hold six
 * connections, so the bound is reached by spreading peers over several shards), retrying
 * transient failures within the peer's deadline; a peer that still fails stays dirty and is tried
 * again on a later alarm with growing backoff. It also reconciles digests with its peers
 * periodically. It keeps a mirror of the gateway's own changes, refreshed from RouteSync at each
 * alarm, because a PeerQueue reads its source synchronously.
 */
export class PeerShard extends DurableObject<Env> {
  #config: ShardConfig | undefined;
  readonly #mirror = new RouteTable();
  #mirrorCursor: Stamp | undefined;
  /** The mirror's own changes in stamp order, kept up to date as it changes (the queue's source). */
  #mirrorSorted: Change[] = [];
  /** The queue changed since it was last written to storage. */
  #queueDirty = false;
  #queue: PeerQueue;
  #reconcile: { nextAt: number; last: Record<string, number> };
  /** Woken while the alarm ran, or more was pending than one round takes: run again at once. */
  #again = false;
  readonly #client: PeerClient;
  /** Peers a push round is under way to. */
  readonly #pushing = new Set<string>();
  #counters = {
    requests: 0,
    retries: 0,
    acks: 0,
    failedRounds: 0,
    peakInFlight: 0,
    reconciles: 0,
    reconcileDiffs: 0,
    alarms: 0,
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#client = new PeerClient(env, this.#counters);
    const kv = ctx.storage.kv;
    this.#config = kv.get<ShardConfig>(CONFIG_KEY);
    this.#queue = PeerQueue.fromJSON(
      kv.get<Record<string, PeerSnapshot>>(QUEUE_KEY) ?? {},
      this.#queueOptions(),
    );
    this.#reconcile = kv.get(RECONCILE_KEY) ?? { nextAt: 0, last: {} };
  }

  /** Takes the shard's current configuration and runs a round now. */
  async wake(config: ShardConfig): Promise<void> {
    const before = this.#config;
    if (JSON.stringify(before) !== JSON.stringify(config)) {
      this.#config = config;
      this.ctx.storage.kv.put(CONFIG_KEY, config);
      const names = new Set(config.peers.map((p) => p.name));
      const added = config.peers.some((p) => !this.#queue.peers().includes(p.name));
      for (const peer of this.#queue.peers()) if (!names.has(peer)) this.#queue.removePeer(peer);
      for (const peer of config.peers) this.#queue.addPeer(peer.name);
      if (backoffChanged(before, config)) {
        this.#queue = PeerQueue.fromJSON(this.#queue.toJSON(), this.#queueOptions());
      }
      // A new peer, or the first start: compare digests now rather than after a full period.
      if (added) this.#reconcile.nextAt = 0;
      this.#saveQueue();
      this.#flushQueue();
    }
    this.#again = true;
    const now = Date.now();
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > now) await this.ctx.storage.setAlarm(now);
  }

  /** Every peer's state; with `service`, pending counts only that service's changes. */
  async status(service?: string): Promise<PeerView[]> {
    const config = this.#config;
    if (!config) return [];
    await this.#refreshMirror();
    const now = Date.now();
    return config.peers.map((peer) => {
      const s: PeerStatus = this.#queue.status(peer.name, now);
      const pending = this.#mirror
        .since(s.cursor, { origin: config.gatewayId })
        .filter((c) => service === undefined || parseRouteKey(c.key)?.service === service);
      return {
        peer: peer.name,
        shard: config.index,
        pending: pending.length,
        pendingKeys: pending.slice(0, 20).map((c) => c.key),
        cursor: s.cursor ? encodeStamp(s.cursor) : null,
        lastSyncedAt: s.lastSyncedAt ?? null,
        lastReconciledAt: this.#reconcile.last[peer.name] ?? null,
        failures: s.failures,
        lastError: s.lastError ?? null,
        nextAttemptAt: s.nextAttemptAt,
      };
    });
  }

  stats(): ShardStats {
    return {
      ...this.#counters,
      peers: this.#config?.peers.length ?? 0,
      limit: this.#config?.limit ?? 0,
      inFlight: this.#client.inFlight,
    };
  }

  override async alarm(): Promise<void> {
    const config = this.#config;
    if (!config) return;
    this.#again = false;
    this.#counters.alarms++;
    try {
      await this.#refreshMirror();
      const now = Date.now();
      // Peers that answered last time go first, so a dead peer's timeouts delay nobody.
      const snapshot = this.#queue.toJSON();
      const failures = new Map(config.peers.map((p) => [p.name, snapshot[p.name]?.failures ?? 0]));
      const due = this.#queue
        .due(now)
        .sort((a, b) => (failures.get(a) ?? 0) - (failures.get(b) ?? 0));
      const byName = new Map(config.peers.map((p) => [p.name, p]));
      await eachLimited(due, config.limit, async (name) => {
        const peer = byName.get(name);
        // A run that overlaps another (an alarm retried while the first still works) leaves a
        // peer that is being pushed to alone, so no batch goes out twice.
        if (!peer || this.#pushing.has(name)) return;
        this.#pushing.add(name);
        try {
          await this.#push(config, peer);
        } finally {
          this.#pushing.delete(name);
        }
        // One write per peer and round, not per acknowledged batch.
        this.#flushQueue();
      });
      if (Date.now() >= this.#reconcile.nextAt) {
        this.#reconcile.nextAt = Date.now() + config.settings.reconcileIntervalMs;
        this.ctx.storage.kv.put(RECONCILE_KEY, this.#reconcile);
        await eachLimited([...config.peers], config.limit, (peer) =>
          this.#reconcileWith(config, peer),
        );
      }
    } catch (error) {
      console.error(`peer shard ${config.index}: round failed: ${String(error)}`);
      this.#again = true;
    } finally {
      this.#flushQueue();
      await this.#schedule(config);
    }
  }

  async #schedule(config: ShardConfig): Promise<void> {
    const now = Date.now();
    const pushAt = this.#again ? now : (this.#queue.nextWakeAt(now) ?? Number.POSITIVE_INFINITY);
    const next = Math.min(pushAt, Math.max(now, this.#reconcile.nextAt));
    if (config.peers.length > 0 && Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  /** One round with a peer: batches until nothing is pending, the peer fails, or its deadline passes. */
  async #push(config: ShardConfig, peer: PeerConfig): Promise<void> {
    const policy = backoffPolicyOf(config.settings);
    const start = Date.now();
    for (;;) {
      const batch = this.#queue.nextBatch(peer.name, config.settings.batchSize);
      const last = batch.at(-1);
      if (!last) return;
      const body = JSON.stringify(changesBody(config.gatewayId, batch));
      const result = await this.#send(peer, "POST", "/_gw/peer/changes", body, policy, start);
      if (!result.ok) {
        this.#queue.fail(peer.name, result.message, Date.now());
        this.#counters.failedRounds++;
        logOf(this.env).change({ event: "peer-failure", peer: peer.name, reason: result.message });
        this.#saveQueue();
        return;
      }
      this.#queue.ack(peer.name, last.stamp, Date.now());
      this.#counters.acks++;
      this.#saveQueue();
      if (Date.now() - start >= policy.peerDeadlineMs) {
        // More is pending than one round may take: yield to the other peers, come back at once.
        if (this.#queue.hasPending(peer.name)) this.#again = true;
        return;
      }
    }
  }

  /**
   * Compares digests with a peer; where buckets differ, pushes ours and pulls theirs. Both sides
   * apply idempotently, so swapping whole buckets is safe, and a peer that was partitioned
   * converges within one reconcile period of its return.
   */
  async #reconcileWith(config: ShardConfig, peer: PeerConfig): Promise<void> {
    const policy = backoffPolicyOf(config.settings);
    const table = this.#tableStub(config);
    try {
      let theirs = await this.#fetchDigest(peer, policy);
      if (this.#queue.hasPending(peer.name)) {
        // The peer answers again while its queue backs off (it may wait minutes): catch it up
        // through the queue now, which also ends the backoff, and compare digests after that.
        await this.#push(config, peer);
        this.#flushQueue();
        if (this.#queue.hasPending(peer.name)) throw new Error("still behind after a push round");
        theirs = await this.#fetchDigest(peer, policy);
      }
      const mine = await table.digest();
      this.#counters.reconciles++;
      const diff = diffDigests(mine, theirs);
      if (diff.length > 0) {
        this.#counters.reconcileDiffs++;
        await this.#pushBuckets(config, peer, policy, await table.bucketChanges(diff));
        await this.#pullBuckets(config, peer, policy, diff);
      }
      this.#reconcile.last[peer.name] = Date.now();
      this.ctx.storage.kv.put(RECONCILE_KEY, this.#reconcile);
    } catch (error) {
      console.warn(`peer shard ${config.index}: reconcile with ${peer.name}: ${String(error)}`);
    }
  }

  async #fetchDigest(peer: PeerConfig, policy: BackoffPolicy) {
    const got = await this.#send(peer, "GET", "/_gw/peer/digest", "", policy, Date.now());
    if (!got.ok) throw new Error(`digest: ${got.message}`);
    const parsed = parseDigest(got.answer.text);
    if (!parsed.ok) throw new Error(`digest: malformed answer (${parsed.issues[0]?.message})`);
    return parsed.value;
  }

  async #pushBuckets(
    config: ShardConfig,
    peer: PeerConfig,
    policy: BackoffPolicy,
    changes: readonly Change[],
  ): Promise<void> {
    const size = config.settings.batchSize;
    for (let i = 0; i < changes.length; i += size) {
      const body = JSON.stringify(changesBody(config.gatewayId, changes.slice(i, i + size)));
      const sent = await this.#send(peer, "POST", "/_gw/peer/changes", body, policy, Date.now());
      if (!sent.ok) throw new Error(`push: ${sent.message}`);
    }
  }

  async #pullBuckets(
    config: ShardConfig,
    peer: PeerConfig,
    policy: BackoffPolicy,
    buckets: readonly number[],
  ): Promise<void> {
    const table = this.#tableStub(config);
    let since: string | undefined;
    for (let page = 0; page < MAX_PULL_PAGES; page++) {
      const query = `?buckets=${buckets.join(",")}${since ? `&since=${since}` : ""}`;
      const got = await this.#send(peer, "GET", `/_gw/peer/routes${query}`, "", policy, Date.now());
      if (!got.ok) throw new Error(`pull: ${got.message}`);
      const parsed = parseRoutesSince(got.answer.text);
      if (!parsed.ok) throw new Error(`pull: malformed answer (${parsed.issues[0]?.message})`);
      const last = parsed.value.changes.at(-1);
      if (parsed.value.changes.length > 0) {
        const result = await table.applyRemote(parsed.value.changes);
        if (result.status !== "applied") throw new Error(`pull: ${result.status}`);
      }
      if (!parsed.value.more || !last) return;
      since = encodeStamp(last.stamp);
    }
  }

  /**
   * One request to a peer, retried per the policy while the outcome is transient and the peer's
   * deadline (from `start`) allows. Each attempt is signed afresh (a new nonce and timestamp).
   */
  async #send(
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

  /** Brings the mirror of the gateway's own changes up to date with RouteSync. */
  async #refreshMirror(): Promise<void> {
    const config = this.#config;
    if (!config) return;
    const table = this.#tableStub(config);
    for (;;) {
      const page = await table.ownSince(this.#mirrorCursor, MIRROR_PAGE);
      const changed = new Set<string>();
      for (const change of page.changes) if (this.#mirror.apply(change)) changed.add(change.key);
      this.#resort(changed, config.gatewayId);
      const last = page.changes.at(-1);
      if (last) this.#mirrorCursor = last.stamp;
      if (!page.more) return;
    }
  }

  /** Replaces the sorted entries of changed keys by their current own changes, in stamp order. */
  #resort(keys: ReadonlySet<string>, origin: string): void {
    if (keys.size === 0) return;
    const sorted = this.#mirrorSorted.filter((c) => !keys.has(c.key));
    for (const key of keys) {
      for (const change of this.#mirror.changesFor(key)) {
        if (change.stamp.origin !== origin) continue;
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (compareChanges(sorted[mid] as Change, change) < 0) lo = mid + 1;
          else hi = mid;
        }
        sorted.splice(lo, 0, change);
      }
    }
    this.#mirrorSorted = sorted;
  }

  #tableStub(config: ShardConfig) {
    return routeSyncOf(this.env, config.gatewayId);
  }

  #queueOptions() {
    const settings = this.#config?.settings;
    return {
      // Only this gateway's own changes: others' reach each peer from their origin.
      source: (after: Stamp | undefined, limit: number) => {
        const origin = this.#config?.gatewayId;
        if (origin === undefined) return [];
        return sliceAfter(this.#mirrorSorted, after, limit).changes;
      },
      backoff: {
        baseMs: settings?.peerBackoffMs ?? 1_000,
        maxMs: settings?.peerBackoffMaxMs ?? 300_000,
        jitter: 0.2,
      },
    };
  }

  /** Marks the queue for writing; flushQueue writes it once per round rather than per ack. */
  #saveQueue(): void {
    this.#queueDirty = true;
  }

  #flushQueue(): void {
    if (!this.#queueDirty) return;
    this.#queueDirty = false;
    this.ctx.storage.kv.put(QUEUE_KEY, this.#queue.toJSON());
  }
}

function backoffChanged(before: ShardConfig | undefined, after: ShardConfig): boolean {
  return (
    before?.settings.peerBackoffMs !== after.settings.peerBackoffMs ||
    before.settings.peerBackoffMaxMs !== after.settings.peerBackoffMaxMs
  );
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
