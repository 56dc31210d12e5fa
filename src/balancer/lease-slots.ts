/**
 * An isolate's side of one node's capacity lease: how many of the node's handshake slots it
 * holds, until when, how many are in use, and what it owes the gate in its next report. Pure:
 * the caller passes the time and makes the calls this class asks for.
 */

/** What an isolate tells the gate about the attempts it made on its lease since its last call. */
export interface LeaseReport {
  /** Attempts that got response headers with a status below 500. */
  readonly successes: number;
  /** Handshake times of those successes: count, sum and largest. */
  readonly latency: { readonly count: number; readonly sumMs: number; readonly maxMs: number };
}

/** The gate's answer to a lease call. */
export interface LeaseAnswer {
  /** Slots granted, 0 when the gate cannot lease now. */
  readonly slots: number;
  /** How long the grant lasts, counted by the holder from when it sent the call. */
  readonly ttlMs: number;
  /** Increases with every answer to this holder. */
  readonly generation: number;
  /** Set while the node is ejected (a granted lease is then 0 slots). */
  readonly ejectedUntil?: number;
}

// Spacing of the calls that ask for more slots while all are busy: quick enough to follow a
// burst, and a bounded cost (at most four calls a second per node per isolate) while it lasts.
const SHORT_CALL_SPACING_MS = 250;

export const EMPTY_REPORT: LeaseReport = {
  successes: 0,
  latency: { count: 0, sumMs: 0, maxMs: 0 },
};

/** Why a lease call is due, or undefined when none is. */
export type RenewalReason = "first" | "renew" | "short";

export class LeaseSlots {
  #slots = 0;
  #expiresAt = 0;
  #grantedAt = 0;
  #ttlMs = 0;
  #generation = 0;
  #inUse = 0;
  // Attempts at the node from this isolate in progress on either path, and their peak since the
  // last call: the demand the next call asks for.
  #concurrent = 0;
  #peak = 0;
  #lastPeak = 0;
  // What the last call asked for; a grant below it means the gate gave all it could, so busy
  // slots are no reason to ask again before the next renewal.
  #asked = 0;
  #capped = false;
  #usedSinceCall = false;
  #short = false;
  #calling = false;
  #lastCallAt = Number.NEGATIVE_INFINITY;
  #successes = 0;
  #latency = { count: 0, sumMs: 0, maxMs: 0 };

  /** Slots held now, in use or not. */
  get slots(): number {
    return this.#slots;
  }

  /** Slots in use by handshakes on the lease path. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Whether a lease call is in progress. */
  get calling(): boolean {
    return this.#calling;
  }

  /**
   * Takes a slot for a handshake that may last `holdMs`, if one is free and the grant outlasts
   * the handshake (a slot may never be held past the grant's end, which is what lets the gate
   * count a grant only until its TTL has passed). False sends the attempt through the gate.
   */
  tryTake(now: number, holdMs: number): boolean {
    this.#usedSinceCall = true;
    if (this.#inUse < this.#slots && now + holdMs <= this.#expiresAt) {
      this.#inUse++;
      return true;
    }
    if (this.#slots > 0 && this.#inUse >= this.#slots && !this.#capped) this.#short = true;
    return false;
  }

  /** Gives a slot back; a success is counted into the next report. */
  give(success?: { readonly latencyMs: number }): void {
    this.#inUse = Math.max(0, this.#inUse - 1);
    if (success) this.recordSuccess(success.latencyMs);
  }

  /** Counts a success on the lease path into the next report (the gate sees its own). */
  recordSuccess(latencyMs: number): void {
    this.#successes++;
    const l = this.#latency;
    this.#latency = {
      count: l.count + 1,
      sumMs: l.sumMs + latencyMs,
      maxMs: Math.max(l.maxMs, latencyMs),
    };
  }

  /** An attempt at the node starts (either path); call `leave` when its handshake ends. */
  enter(): void {
    this.#usedSinceCall = true;
    this.#concurrent++;
    this.#peak = Math.max(this.#peak, this.#concurrent);
  }

  leave(): void {
    this.#concurrent = Math.max(0, this.#concurrent - 1);
  }

  /**
   * Whether a call to the gate is due: a first lease once the isolate has traffic for the node,
   * a renewal while the lease is used, early enough that a fresh grant arrives before the old one
   * is too short to hold a `maxHoldMs` handshake (an idle lease lapses and frees its slots), or an
   * early one when all slots were busy. Calls are spaced so a gate that cannot lease is not asked
   * on every dispatch.
   */
  due(now: number, ttlMs: number, maxHoldMs: number): RenewalReason | undefined {
    if (this.#calling) return undefined;
    const sinceCall = now - this.#lastCallAt;
    if (this.#slots === 0 || now >= this.#expiresAt) {
      return this.#usedSinceCall && sinceCall >= ttlMs / 4 ? "first" : undefined;
    }
    if (this.#short && sinceCall >= SHORT_CALL_SPACING_MS) return "short";
    const renewAt = this.#grantedAt + Math.max(0, this.#ttlMs - maxHoldMs) / 2;
    if (this.#usedSinceCall && now >= renewAt) return "renew";
    return undefined;
  }

  /**
   * Slots to ask for: the peak of the last two periods between calls with headroom, within
   * `limit`. Two periods, so a lull just before a renewal does not shrink a lease a burst needs.
   */
  want(limit: number): number {
    const peak = Math.max(this.#peak, this.#lastPeak);
    return Math.max(1, Math.min(limit, Math.ceil(peak * 1.5) + 1));
  }

  /** Starts a call: returns what it asks for and the report it carries, and resets both. */
  beginCall(now: number, limit: number): { readonly want: number; readonly report: LeaseReport } {
    this.#calling = true;
    this.#lastCallAt = now;
    const want = this.want(limit);
    this.#asked = want;
    const report = { successes: this.#successes, latency: this.#latency };
    this.#successes = 0;
    this.#latency = EMPTY_REPORT.latency;
    this.#lastPeak = this.#peak;
    this.#peak = this.#concurrent;
    this.#usedSinceCall = false;
    this.#short = false;
    return { want, report };
  }

  /** Ends a call started by `beginCall`, applying its answer if it came. */
  endCall(answer: LeaseAnswer | undefined, sentAt: number): void {
    this.#calling = false;
    if (!answer) return;
    this.apply(answer, sentAt);
    this.#capped = answer.slots < this.#asked;
  }

  /** Applies the gate's answer to a call sent at `sentAt`; a stale answer is dropped. */
  apply(answer: LeaseAnswer, sentAt: number): void {
    if (answer.generation <= this.#generation) return;
    this.#generation = answer.generation;
    this.#slots = answer.slots;
    this.#ttlMs = answer.ttlMs;
    this.#grantedAt = sentAt;
    // The gate started its TTL when the call arrived, which is later in real time than `sentAt`:
    // the holder's end comes first without the two clocks having to agree, each measuring only a
    // duration on its own.
    this.#expiresAt = sentAt + answer.ttlMs;
  }

  /**
   * The report for a failure, sent at once outside the renewal rhythm, so the gate counts the
   * successes before the failure in this isolate's order.
   */
  beginReport(): LeaseReport {
    const report = { successes: this.#successes, latency: this.#latency };
    this.#successes = 0;
    this.#latency = EMPTY_REPORT.latency;
    return report;
  }

  /** Stops using the lease at once (the node was ejected): new attempts go through the gate. */
  drop(): void {
    this.#slots = 0;
  }
}
