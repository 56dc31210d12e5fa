/**
 * The gate's side of capacity leases (after YouTube's Doorman): isolates hold slots of a node's
 * handshake limit and enforce them themselves, so a dispatch within its lease makes no call to
 * the gate. The gate stays the authority: it never has more slots out, leased and its own
 * in-flight handshakes together, than the limit.
 *
 * A holder may still be using a bigger grant it was given before, until that grant expires (a
 * handshake started under it is cut off by the grant's end), so a holder counts for the largest
 * of its unexpired grants, not its newest.
 */

/** One grant as the gate counts it. */
export interface Grant {
  readonly slots: number;
  /** Gate clock, ms. */
  readonly expiresAt: number;
}

/** What the gate remembers of one holder; persisted so that a restarted gate does not over-grant. */
export interface HolderRecord {
  /** Unexpired grants, none dominated by another (fewer slots and an earlier end). */
  readonly grants: readonly Grant[];
  /** When the holder last asked: it counts toward the fair share for one TTL after that. */
  readonly askedAt: number;
  /** Increases with every answer, so the holder can drop an answer that arrives late. */
  readonly generation: number;
}

/** The terms a gate leases under. */
export interface LeaseTerms {
  /** The node's handshake limit (the gate's `gate.limit`). */
  readonly limit: number;
  /** How long a grant lasts. */
  readonly ttlMs: number;
}

/**
 * Slots never leased, kept for dispatches through the gate, so an isolate without a lease always
 * gets through in FIFO order however many isolates hold leases. A limit of 1 is never leased:
 * such a node stays strictly serialized in the gate.
 */
export function gatePathReserve(limit: number): number {
  return limit <= 1 ? limit : Math.max(1, Math.ceil(limit / 8));
}

/** Slots one holder counts for at `now`: the largest of its unexpired grants. */
export function heldSlots(record: HolderRecord, now: number): number {
  let held = 0;
  for (const grant of record.grants) if (grant.expiresAt > now) held = Math.max(held, grant.slots);
  return held;
}

/** The holders of one gate and the arithmetic of granting to them. */
export class LeaseLedger {
  readonly #holders = new Map<string, HolderRecord>();

  constructor(records: Iterable<readonly [string, HolderRecord]> = []) {
    for (const [holder, record] of records) this.#holders.set(holder, record);
  }

  /** Slots leased out at `now`, summed over holders. */
  outstanding(now: number): number {
    let sum = 0;
    for (const record of this.#holders.values()) sum += heldSlots(record, now);
    return sum;
  }

  /** Holders that asked within the last TTL (the fair share divides among them). */
  askers(now: number, ttlMs: number): number {
    let count = 0;
    for (const record of this.#holders.values()) if (now - record.askedAt < ttlMs) count++;
    return count;
  }

  /** The record of one holder, if it has one. */
  get(holder: string): HolderRecord | undefined {
    return this.#holders.get(holder);
  }

  /**
   * Answers a holder asking for `want` slots while `gateInFlight` handshakes go through the gate
   * itself. The grant is the smallest of what it wants, its fair share of the leasable slots, and
   * what is free; it may be 0, and the holder then dispatches through the gate.
   */
  grant(
    holder: string,
    want: number,
    gateInFlight: number,
    terms: LeaseTerms,
    now: number,
  ): { readonly record: HolderRecord; readonly slots: number } {
    this.prune(now, terms.ttlMs);
    const previous = this.#holders.get(holder);
    const leasable = terms.limit - gatePathReserve(terms.limit);
    const askers =
      this.askers(now, terms.ttlMs) + (previous && now - previous.askedAt < terms.ttlMs ? 0 : 1);
    const share = Math.floor(leasable / askers);
    const others = this.outstanding(now) - (previous ? heldSlots(previous, now) : 0);
    const free = Math.min(terms.limit - gateInFlight - others, leasable - others);
    const slots = Math.max(0, Math.min(Math.floor(want), share, free));
    const grants = previous ? previous.grants.filter((g) => g.expiresAt > now) : [];
    const record: HolderRecord = {
      grants:
        slots > 0 ? undominated([...grants, { slots, expiresAt: now + terms.ttlMs }]) : grants,
      askedAt: now,
      generation: (previous?.generation ?? 0) + 1,
    };
    this.#holders.set(holder, record);
    return { record, slots };
  }

  /**
   * Drops expired grants and holders that neither hold nor asked within a TTL; returns the
   * holders whose records changed, so the caller can persist them (undefined: deleted).
   */
  prune(now: number, ttlMs: number): Map<string, HolderRecord | undefined> {
    const changed = new Map<string, HolderRecord | undefined>();
    for (const [holder, record] of this.#holders) {
      const live = record.grants.filter((g) => g.expiresAt > now);
      if (live.length === 0 && now - record.askedAt >= ttlMs) {
        this.#holders.delete(holder);
        changed.set(holder, undefined);
      } else if (live.length !== record.grants.length) {
        const next = { ...record, grants: live };
        this.#holders.set(holder, next);
        changed.set(holder, next);
      }
    }
    return changed;
  }

  /** When the next grant ends, if any is out: the gate path's capacity grows then. */
  nextExpiry(now: number): number | undefined {
    let next: number | undefined;
    for (const record of this.#holders.values()) {
      for (const grant of record.grants) {
        if (grant.expiresAt > now && (next === undefined || grant.expiresAt < next))
          next = grant.expiresAt;
      }
    }
    return next;
  }

  /** Every holder's record, for stats. */
  entries(): IterableIterator<[string, HolderRecord]> {
    return this.#holders.entries();
  }
}

/** Keeps the grants that matter for `heldSlots` at some future moment. */
function undominated(grants: readonly Grant[]): Grant[] {
  return grants.filter((g, i) =>
    grants.every(
      (o, j) =>
        j === i ||
        o.slots < g.slots ||
        o.expiresAt < g.expiresAt ||
        (o.slots === g.slots && o.expiresAt === g.expiresAt && j < i),
    ),
  );
}
