import { backoffDelay } from "../balancer/backoff.ts";
import { compareStamps, decodeStamp, encodeStamp, maxStamp, type Stamp } from "./hlc.ts";
import type { Change } from "./route-table.ts";

/**
 * Lists local changes stamped strictly after `after` (all when undefined), ascending by stamp, at
 * most about `limit` of them. Typically `(after, limit) => table.since(after, { origin: self, limit })`.
 * Only this gateway's own changes may be listed: new ones always stamp after every earlier one,
 * which is what makes a single stamp per peer a complete record of what it has.
 */
export type ChangeSource = (after: Stamp | undefined, limit: number) => readonly Change[];

/** Backoff of a peer that keeps failing, across rounds (not within one push). */
export interface PeerBackoff {
  /** Wait after the first failure in a row. */
  readonly baseMs: number;
  /** Longest wait. */
  readonly maxMs: number;
  /** Each wait is shortened by up to this share at random, so peers do not retry in step. */
  readonly jitter: number;
}

/** Defaults: 1 s, 2 s, 4 s … up to 5 minutes. */
const DEFAULT_PEER_BACKOFF: PeerBackoff = { baseMs: 1_000, maxMs: 300_000, jitter: 0.2 };

/** Settings of a PeerQueue. */
export interface PeerQueueOptions {
  /** Where pending changes come from. */
  readonly source: ChangeSource;
  /** Backoff between rounds for a failing peer. */
  readonly backoff?: PeerBackoff;
  /** Uniform in [0, 1); injected for tests. */
  readonly random?: () => number;
}

/** What the API reports about one peer. */
export interface PeerStatus {
  /** The peer's id. */
  readonly peer: string;
  /** Changes the peer has not acknowledged. */
  readonly pending: number;
  /** Stamp of the last change it acknowledged. */
  readonly cursor: Stamp | undefined;
  /** When it last acknowledged a push (ms since epoch). */
  readonly lastSyncedAt: number | undefined;
  /** The last failure, kept after later successes for diagnosis. */
  readonly lastError: { readonly message: string; readonly at: number } | undefined;
  /** Failed rounds in a row. */
  readonly failures: number;
  /** Earliest time the next push may start (ms since epoch). */
  readonly nextAttemptAt: number;
}

/** A peer's persisted state, stamps encoded. */
export interface PeerSnapshot {
  /** Encoded stamp of the last acknowledged change. */
  readonly cursor?: string;
  /** When it last acknowledged a push. */
  readonly lastSyncedAt?: number;
  /** The last failure. */
  readonly lastError?: { readonly message: string; readonly at: number };
  /** Failed rounds in a row. */
  readonly failures: number;
  /** Not before this time, while failing. */
  readonly retryAt: number;
}

interface PeerState {
  cursor: Stamp | undefined;
  lastSyncedAt: number | undefined;
  lastError: { message: string; at: number } | undefined;
  failures: number;
  retryAt: number;
}

/** Hard cap on one batch, whatever the caller asks for. */
export const MAX_BATCH = 256;

/**
 * What each peer still needs, and when to try it next. Holds one stamp per peer rather than a
 * copy of each change, so a peer that is away for days costs no memory; on return it is sent
 * everything after its cursor, in stamp order, in bounded batches.
 */
export class PeerQueue {
  readonly #source: ChangeSource;
  readonly #backoff: PeerBackoff;
  readonly #random: () => number;
  readonly #peers = new Map<string, PeerState>();

  constructor(options: PeerQueueOptions) {
    this.#source = options.source;
    this.#backoff = options.backoff ?? DEFAULT_PEER_BACKOFF;
    this.#random = options.random ?? Math.random;
  }

  /** Starts tracking a peer (from the beginning, or from a known cursor); no-op when tracked. */
  addPeer(peer: string, cursor?: Stamp): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, {
      cursor,
      lastSyncedAt: undefined,
      lastError: undefined,
      failures: 0,
      retryAt: 0,
    });
  }

  /** Stops tracking a peer, so it no longer holds back tombstone collection. */
  removePeer(peer: string): void {
    this.#peers.delete(peer);
  }

  /** Tracked peers, sorted. */
  peers(): string[] {
    return [...this.#peers.keys()].sort();
  }

  /**
   * The next changes for a peer, oldest first, at most `max` (capped at MAX_BATCH) unless several
   * share the last stamp. Calling again before `ack` returns the same batch: a lost response
   * means a resend, which the receiver applies idempotently.
   */
  nextBatch(peer: string, max: number): Change[] {
    const limit = Math.max(0, Math.min(max, MAX_BATCH));
    if (limit === 0) return [];
    return [...this.#source(this.#state(peer).cursor, limit)];
  }

  /**
   * Records that the peer applied everything up to `upTo` (the last stamp of the batch it
   * accepted). The cursor never moves back, so a late duplicate ack is harmless. Ends a failure streak.
   */
  ack(peer: string, upTo: Stamp, now: number): void {
    const state = this.#state(peer);
    state.cursor = state.cursor === undefined ? upTo : maxStamp(state.cursor, upTo);
    state.lastSyncedAt = now;
    state.failures = 0;
    state.retryAt = 0;
  }

  /** Records a round in which the peer could not be reached or refused; it backs off. */
  fail(peer: string, message: string, now: number): void {
    const state = this.#state(peer);
    state.failures += 1;
    state.lastError = { message, at: now };
    state.retryAt = now + this.#delay(state.failures);
  }

  /** Earliest time the next push to this peer may start: `now` unless it is backing off. */
  nextAttemptAt(peer: string, now: number): number {
    return Math.max(now, this.#state(peer).retryAt);
  }

  /** Whether the peer has anything it has not acknowledged. */
  hasPending(peer: string): boolean {
    return this.#source(this.#state(peer).cursor, 1).length > 0;
  }

  /** Peers with pending changes whose backoff has run out, sorted. */
  due(now: number): string[] {
    return this.peers().filter((p) => this.#state(p).retryAt <= now && this.hasPending(p));
  }

  /** When the next push to any peer is due (for the alarm), or undefined when nothing is pending. */
  nextWakeAt(now: number): number | undefined {
    let earliest: number | undefined;
    for (const peer of this.#peers.keys()) {
      if (!this.hasPending(peer)) continue;
      const at = this.nextAttemptAt(peer, now);
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  /** Whether every tracked peer has acknowledged `stamp` (vacuously true with no peers). */
  ackedByAll(stamp: Stamp): boolean {
    for (const { cursor } of this.#peers.values()) {
      if (cursor === undefined || compareStamps(cursor, stamp) < 0) return false;
    }
    return true;
  }

  /** The API view of one peer. */
  status(peer: string, now: number): PeerStatus {
    const state = this.#state(peer);
    return {
      peer,
      pending: this.#source(state.cursor, Number.POSITIVE_INFINITY).length,
      cursor: state.cursor,
      lastSyncedAt: state.lastSyncedAt,
      lastError: state.lastError,
      failures: state.failures,
      nextAttemptAt: this.nextAttemptAt(peer, now),
    };
  }

  /** Persistable state of every peer. */
  toJSON(): Record<string, PeerSnapshot> {
    const out: Record<string, PeerSnapshot> = {};
    for (const [peer, s] of this.#peers) {
      out[peer] = {
        ...(s.cursor === undefined ? {} : { cursor: encodeStamp(s.cursor) }),
        ...(s.lastSyncedAt === undefined ? {} : { lastSyncedAt: s.lastSyncedAt }),
        ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
        failures: s.failures,
        retryAt: s.retryAt,
      };
    }
    return out;
  }

  /** Restores peers saved by toJSON; a peer whose cursor does not decode restarts from the beginning. */
  static fromJSON(snapshot: Record<string, PeerSnapshot>, options: PeerQueueOptions): PeerQueue {
    const queue = new PeerQueue(options);
    for (const [peer, s] of Object.entries(snapshot)) {
      queue.#peers.set(peer, {
        cursor: s.cursor === undefined ? undefined : decodeStamp(s.cursor),
        lastSyncedAt: s.lastSyncedAt,
        lastError: s.lastError,
        failures: s.failures,
        retryAt: s.retryAt,
      });
    }
    return queue;
  }

  #state(peer: string): PeerState {
    const state = this.#peers.get(peer);
    if (!state) throw new RangeError(`unknown peer: ${peer}`);
    return state;
  }

  #delay(failures: number): number {
    const { baseMs, maxMs, jitter } = this.#backoff;
    const backoff = { baseMs, capMs: maxMs, jitter: { kind: "shave", share: jitter } } as const;
    return backoffDelay(backoff, failures - 1, this.#random);
  }
}
