import { DurableObject } from "cloudflare:workers";
import type { PeerConfig } from "../../config/sync-schema.ts";
import { backoffPolicyOf } from "../../config/sync-schema.ts";
import { logOf } from "../../logging/log-of.ts";
import { diffDigests } from "../../sync/digest.ts";
import { sliceAfter } from "../../sync/fanout.ts";
import { encodeStamp, type Stamp } from "../../sync/hlc.ts";
import { OwnChanges } from "../../sync/own-changes.ts";
import { PeerQueue, type PeerSnapshot, type PeerStatus } from "../../sync/peer-queue.ts";
import { parseRouteKey } from "../../sync/route-table.ts";
import { changesBody } from "../../sync/wire.ts";
import { eachLimited } from "../../util/each-limited.ts";
import { SerialRuns } from "../serial-runs.ts";
import { routeSyncOf } from "../stubs.ts";
import { PeerClient } from "./peer-client.ts";
import { PeerExchange } from "./peer-exchange.ts";
import type { PeerView, ShardConfig, ShardStats } from "./peer-shard-contract.ts";

const CONFIG_KEY = "config";
const QUEUE_KEY = "queue";
const RECONCILE_KEY = "reconcile";
/** Changes asked of RouteSync per call when refreshing the mirror. */
const MIRROR_PAGE = 512;

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
  /** The gateway's own changes, as far as read from RouteSync: the peer queues' source. */
  readonly #own = new OwnChanges(() => this.#config?.gatewayId);
  /** The queue changed since it was last written to storage. */
  #queueDirty = false;
  #queue: PeerQueue;
  #reconcile: { nextAt: number; last: Record<string, number> };
  /** Woken while the alarm ran, or more was pending than one round takes: run again at once. */
  #again = false;
  readonly #client: PeerClient;
  readonly #exchange: PeerExchange;
  readonly #rounds = new SerialRuns();
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
    this.#exchange = new PeerExchange(this.#client, this.#counters);
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
      const pending = this.#own
        .since(s.cursor)
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

  /** One round, after any round under way: no peer is pushed to by two runs at once. */
  override async alarm(): Promise<void> {
    await this.#rounds.run(() => this.#runRound());
  }

  async #runRound(): Promise<void> {
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
        if (!peer) return;
        await this.#push(config, peer);
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
      logOf(this.env).fault("error", {
        event: "sync-failure",
        shard: config.index,
        reason: `round failed: ${String(error)}`,
      });
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
      const result = await this.#exchange.send(
        peer,
        "POST",
        "/_gw/peer/changes",
        body,
        policy,
        start,
      );
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
      let theirs = await this.#exchange.fetchDigest(peer, policy);
      if (this.#queue.hasPending(peer.name)) {
        // The peer answers again while its queue backs off (it may wait minutes): catch it up
        // through the queue now, which also ends the backoff, and compare digests after that.
        await this.#push(config, peer);
        this.#flushQueue();
        if (this.#queue.hasPending(peer.name)) throw new Error("still behind after a push round");
        theirs = await this.#exchange.fetchDigest(peer, policy);
      }
      const mine = await table.digest();
      this.#counters.reconciles++;
      const diff = diffDigests(mine, theirs);
      if (diff.length > 0) {
        this.#counters.reconcileDiffs++;
        const { gatewayId, settings } = config;
        const ours = await table.bucketChanges(diff);
        await this.#exchange.pushBuckets(gatewayId, settings.batchSize, peer, policy, ours);
        await this.#exchange.pullBuckets(peer, policy, diff, (changes) =>
          table.applyRemote(changes),
        );
      }
      this.#reconcile.last[peer.name] = Date.now();
      this.ctx.storage.kv.put(RECONCILE_KEY, this.#reconcile);
    } catch (error) {
      logOf(this.env).fault("warn", {
        event: "sync-failure",
        shard: config.index,
        peer: peer.name,
        reason: `reconcile failed: ${String(error)}`,
      });
    }
  }

  /** Brings the mirror of the gateway's own changes up to date with RouteSync. */
  async #refreshMirror(): Promise<void> {
    const config = this.#config;
    if (!config) return;
    const table = this.#tableStub(config);
    for (;;) {
      const page = await table.ownSince(this.#own.cursor, MIRROR_PAGE);
      this.#own.apply(page.changes);
      if (!page.more) return;
    }
  }

  #tableStub(config: ShardConfig) {
    return routeSyncOf(this.env, config.gatewayId);
  }

  #queueOptions() {
    const settings = this.#config?.settings;
    return {
      // Only this gateway's own changes: others' reach each peer from their origin.
      source: (after: Stamp | undefined, limit: number) => {
        if (this.#config?.gatewayId === undefined) return [];
        return sliceAfter(this.#own.sorted, after, limit).changes;
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
