import { DurableObject } from "cloudflare:workers";
import type { SyncConfig } from "../../config/load.ts";
import { logOf } from "../../logging/log-of.ts";
import {
  bucketChanges,
  computeDigest,
  DEFAULT_BUCKET_COUNT,
  type Digest,
} from "../../sync/digest.ts";
import { type ChangePage, pageAfter, shardLimits, shardOf, sliceAfter } from "../../sync/fanout.ts";
import { ClockDriftError, HybridClock, type Stamp } from "../../sync/hlc.ts";
import { type Change, type RouteEntry, RouteTable } from "../../sync/route-table.ts";
import { type ReplayCheck, ReplayGuard } from "../../sync/signature.ts";
import { eachLimited } from "../../util/each-limited.ts";
import { peerShardOf } from "../stubs.ts";
import { applyRouteEffect } from "./effects.ts";
import type { ShardConfig } from "./peer-shard-contract.ts";

/** A change as its maker describes it, of any kind; RouteSync stamps it. */
export type LocalChange = Change extends infer C
  ? C extends Change
    ? Omit<C, "stamp">
    : never
  : never;

/** How a batch from a peer was taken. */
export type RemoteApplyResult =
  | { readonly status: "applied"; readonly applied: number }
  | { readonly status: "replayed" | "guard-full" }
  | { readonly status: "clock-drift"; readonly detail: string };

/** Counters for tests and the bench. */
export interface RouteSyncStats {
  readonly recorded: number;
  readonly remoteApplied: number;
  readonly effects: number;
  readonly effectFailures: number;
  readonly wakes: number;
}

const CONFIG_KEY = "config";
const ORIGIN_KEY = "origin";
const CLOCK_KEY = "clock";
const EFFECTS_KEY = "effects";
/** Kept only by the `dashboard` instance (`dashboardSessionsOf`): the dashboard's session generation. */
const DASHBOARD_GENERATION_KEY = "dashboard-generation";
const ROUTE_PREFIX = "r:";
/** Retry pending effects (LiveNodes, coordinator, gate calls that failed) this long after a failure. */
const EFFECT_RETRY_MS = 1_000;
/** Shards woken at once (each wake is one short call). */
const WAKE_CONCURRENCY = 6;

/**
 * One per gateway deployment (named `sync:<gatewayId>`): the replicated route table and its hybrid
 * logical clock, persisted in SQLite storage. A route change made here (admin register/remove, an
 * ejection granted by a gate, a readmission) is stamped, applied and persisted in one synchronous
 * step by `record`, which then arms the alarm and returns: it never waits on a peer. The alarm
 * wakes the fan-out shards (PeerShard), which push to and reconcile with the peers.
 * Changes from peers arrive through `applyRemote`; the ones that alter the table are applied to
 * routing here (LiveNodes, the coordinator's ledger, gates) but never forwarded, since each
 * gateway pushes only its own changes (origin filtering).
 */
export class RouteSync extends DurableObject<Env> {
  readonly #table = new RouteTable();
  #clock: HybridClock | undefined;
  #config: SyncConfig | undefined;
  readonly #guard = new ReplayGuard();
  /** Keys whose routing effect is still to be applied. */
  readonly #pendingEffects: Set<string>;
  #draining: Promise<void> = Promise.resolve();
  #digestCache: { version: number; digest: Digest } | undefined;
  /** This gateway's own changes in stamp order, as of a table version. */
  #ownCache: { version: number; changes: Change[] } | undefined;
  #version = 0;
  /** A record arrived while the alarm was running: run it again. */
  #rewake = false;
  #counters = { recorded: 0, remoteApplied: 0, effects: 0, effectFailures: 0, wakes: 0 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const kv = ctx.storage.kv;
    this.#config = kv.get<SyncConfig>(CONFIG_KEY);
    const origin = kv.get<string>(ORIGIN_KEY);
    if (origin !== undefined) {
      this.#clock = new HybridClock(origin, {
        last: kv.get<Stamp>(CLOCK_KEY),
        ...this.#driftOption(),
      });
    }
    for (const [, changes] of kv.list<Change[]>({ prefix: ROUTE_PREFIX })) {
      for (const change of changes) this.#table.apply(change);
    }
    this.#pendingEffects = new Set(kv.get<string[]>(EFFECTS_KEY) ?? []);
  }

  /**
   * Adopts the gateway's sync configuration. A new or changed one is handed to the shards before
   * this returns (they reconcile with new peers at once); should that fail, the alarm retries.
   */
  async configure(config: SyncConfig): Promise<void> {
    if (JSON.stringify(config) === JSON.stringify(this.#config)) return;
    this.#config = config;
    this.ctx.storage.kv.put(CONFIG_KEY, config);
    this.#ensureClock(config.gatewayId);
    try {
      await this.#wakeShards(config);
    } catch (error) {
      logOf(this.env).fault("error", {
        event: "sync-failure",
        reason: `waking shards failed: ${String(error)}`,
      });
      await this.#armNow();
    }
  }

  /**
   * Stamps a local change, applies and persists it, arms the alarm that fans it out, and returns
   * its encoded stamp. The tick, the apply and the write happen without an await between them.
   */
  async record(gatewayId: string, change: LocalChange): Promise<Stamp> {
    const clock = this.#ensureClock(gatewayId);
    const stamped = { ...change, stamp: clock.tick(Date.now()) } as Change;
    this.#table.apply(stamped);
    this.#persistKey(stamped.key);
    this.ctx.storage.kv.put(CLOCK_KEY, clock.last);
    this.#counters.recorded++;
    await this.#armNow();
    return stamped.stamp;
  }

  /**
   * Applies a batch from a peer. The nonce, when given, is checked against this object's replay
   * guard first (one guard for every isolate). Every stamp is checked for drift before any is
   * merged, so a batch is taken whole or refused whole. Changes that alter the table get their
   * routing effect applied before this returns.
   */
  async applyRemote(
    changes: readonly Change[],
    nonce?: { readonly nonce: string; readonly timestamp: number },
  ): Promise<RemoteApplyResult> {
    if (nonce) {
      const seen = this.checkNonce(nonce.nonce, nonce.timestamp);
      if (seen !== "fresh") return { status: seen === "full" ? "guard-full" : "replayed" };
    }
    const clock =
      this.#clock ?? (this.#config ? this.#ensureClock(this.#config.gatewayId) : undefined);
    const now = Date.now();
    if (clock) {
      for (const change of changes) {
        const drift = change.stamp.wallMs - now;
        if (drift > clock.maxDriftMs) {
          const error = new ClockDriftError(change.stamp, drift, clock.maxDriftMs);
          return { status: "clock-drift", detail: error.message };
        }
      }
      for (const change of changes) clock.receive(change.stamp, now);
      this.ctx.storage.kv.put(CLOCK_KEY, clock.last);
    }
    const applied = this.#table.applyAll(changes);
    for (const change of applied) {
      this.#persistKey(change.key);
      this.#pendingEffects.add(change.key);
    }
    this.#counters.remoteApplied += applied.length;
    if (applied.length > 0) {
      this.ctx.storage.kv.put(EFFECTS_KEY, [...this.#pendingEffects]);
      await this.#drainEffects();
    }
    return { status: "applied", applied: applied.length };
  }

  /** Records a signed request's nonce; "replayed" for one seen within the skew window. */
  checkNonce(nonce: string, timestamp: number): ReplayCheck {
    return this.#guard.check(nonce, timestamp, Date.now());
  }

  /** This gateway's own changes after `after`, in stamp order, a page at a time (for the shards). */
  ownSince(after: Stamp | undefined, limit: number): ChangePage {
    const origin = this.#clock?.origin;
    if (origin === undefined) return { changes: [], more: false };
    if (this.#ownCache?.version !== this.#version) {
      this.#ownCache = {
        version: this.#version,
        changes: this.#table.since(undefined, { origin }),
      };
    }
    return sliceAfter(this.#ownCache.changes, after, limit);
  }

  /** Changes after `since` (all origins), optionally only of some digest buckets, a page at a time. */
  routes(
    since: Stamp | undefined,
    buckets: readonly number[] | undefined,
    limit: number,
  ): ChangePage {
    const all = buckets
      ? bucketChanges(this.#table, buckets, DEFAULT_BUCKET_COUNT)
      : this.#table.since(since);
    return pageAfter(all, since, limit);
  }

  /** The changes that rebuild every entry of the given digest buckets. */
  bucketChanges(buckets: readonly number[]): Change[] {
    return bucketChanges(this.#table, buckets, DEFAULT_BUCKET_COUNT);
  }

  /** The table's digest, recomputed only after a change. */
  async digest(): Promise<Digest & { origin: string }> {
    const version = this.#version;
    if (this.#digestCache?.version !== version) {
      this.#digestCache = {
        version,
        digest: await computeDigest(this.#table, DEFAULT_BUCKET_COUNT),
      };
    }
    return { origin: this.#clock?.origin ?? "", ...this.#digestCache.digest };
  }

  /** Every entry, tombstones included (tests and diagnosis). */
  entries(): RouteEntry[] {
    return this.#table.entries();
  }

  stats(): RouteSyncStats {
    return { ...this.#counters };
  }

  /**
   * The dashboard's session generation: a session is good only while it carries the current one
   * (src/routes/dashboard-session.ts). Kept here because this is the deployment's one object
   * every isolate can reach; only the instance named by `dashboardSessionsOf` holds it.
   */
  dashboardGeneration(): number {
    return this.ctx.storage.kv.get<number>(DASHBOARD_GENERATION_KEY) ?? 0;
  }

  /** Ends every dashboard session, in every isolate, by moving to the next generation. */
  endDashboardSessions(): number {
    const next = this.dashboardGeneration() + 1;
    this.ctx.storage.kv.put(DASHBOARD_GENERATION_KEY, next);
    return next;
  }

  /** Wakes every shard that has peers, handing it its part of the configuration; retries failed effects. */
  override async alarm(): Promise<void> {
    this.#rewake = false;
    const config = this.#config;
    let retryAt: number | undefined;
    if (config) {
      try {
        await this.#wakeShards(config);
      } catch (error) {
        logOf(this.env).fault("error", {
          event: "sync-failure",
          reason: `waking shards failed: ${String(error)}`,
        });
        retryAt = Date.now() + EFFECT_RETRY_MS;
      }
    }
    await this.#drainEffects();
    if (this.#pendingEffects.size > 0) retryAt = Date.now() + EFFECT_RETRY_MS;
    if (this.#rewake) await this.ctx.storage.setAlarm(Date.now());
    else if (retryAt !== undefined) await this.ctx.storage.setAlarm(retryAt);
  }

  async #wakeShards(config: SyncConfig): Promise<void> {
    const { shards, maxInFlight } = config.settings;
    const limits = shardLimits(maxInFlight, shards);
    const byShard = new Map<number, SyncConfig["peers"][number][]>();
    for (const peer of config.peers) {
      const index = shardOf(peer.name, shards);
      byShard.set(index, [...(byShard.get(index) ?? []), peer]);
    }
    await eachLimited([...byShard], WAKE_CONCURRENCY, async ([index, peers]) => {
      const shard: ShardConfig = {
        gatewayId: config.gatewayId,
        index,
        limit: limits[index] ?? 1,
        peers,
        settings: config.settings,
      };
      await peerShardOf(this.env, config.gatewayId, index).wake(shard);
      this.#counters.wakes++;
    });
  }

  #ensureClock(gatewayId: string): HybridClock {
    if (this.#clock?.origin === gatewayId) return this.#clock;
    // A renamed gateway starts a new origin; its clock still never goes back.
    this.#clock = new HybridClock(gatewayId, {
      last: this.#clock
        ? { ...this.#clock.last, origin: gatewayId }
        : this.ctx.storage.kv.get<Stamp>(CLOCK_KEY),
      ...this.#driftOption(),
    });
    this.ctx.storage.kv.put(ORIGIN_KEY, gatewayId);
    return this.#clock;
  }

  #driftOption(): { maxDriftMs?: number } {
    const drift = this.#config?.settings.maxClockDriftMs;
    return drift === undefined ? {} : { maxDriftMs: drift };
  }

  async #armNow(): Promise<void> {
    this.#rewake = true;
    const now = Date.now();
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > now) await this.ctx.storage.setAlarm(now);
  }

  #persistKey(key: string): void {
    this.#version++;
    this.ctx.storage.kv.put(ROUTE_PREFIX + key, this.#table.changesFor(key));
  }

  /** Applies the routing effect of every pending key, one at a time, from the table's current state. */
  #drainEffects(): Promise<void> {
    // Drains run one after another; each finds whatever is pending when it starts.
    this.#draining = this.#draining
      .then(() => this.#drainLoop())
      .catch((error: unknown) =>
        logOf(this.env).fault("error", {
          event: "sync-failure",
          reason: `draining effects: ${String(error)}`,
        }),
      );
    return this.#draining;
  }

  async #drainLoop(): Promise<void> {
    while (this.#pendingEffects.size > 0) {
      const key = this.#pendingEffects.values().next().value as string;
      try {
        await this.#applyEffect(key);
        this.#counters.effects++;
      } catch (error) {
        this.#counters.effectFailures++;
        logOf(this.env).fault("warn", {
          event: "sync-failure",
          key,
          reason: `effect failed: ${String(error)}`,
        });
        const now = Date.now();
        const current = await this.ctx.storage.getAlarm();
        if (current === null || current > now + EFFECT_RETRY_MS) {
          await this.ctx.storage.setAlarm(now + EFFECT_RETRY_MS);
        }
        return;
      }
      this.#pendingEffects.delete(key);
      this.ctx.storage.kv.put(EFFECTS_KEY, [...this.#pendingEffects]);
    }
  }
  async #applyEffect(key: string): Promise<void> {
    if (this.#config) await applyRouteEffect(this.env, this.#table, this.#config, key);
  }
}
