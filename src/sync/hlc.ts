/** A hybrid logical clock timestamp: physical time, a counter for events within one ms, and who made it. */
export interface Stamp {
  /** Milliseconds since the epoch, as the issuing clock saw it (may run ahead of physical time). */
  readonly wallMs: number;
  /** Orders events that share `wallMs`. */
  readonly counter: number;
  /** Id of the gateway deployment that issued the stamp; breaks ties so the order is total. */
  readonly origin: string;
}

/** Settings of a hybrid logical clock. */
export interface HlcOptions {
  /** How far a remote stamp may be ahead of local physical time before it is refused. */
  readonly maxDriftMs?: number;
  /** Last stamp issued before a restart, so the clock never goes back even if physical time did. */
  readonly last?: Stamp;
}

/** Default tolerance for a peer's clock running ahead of ours. */
const DEFAULT_MAX_DRIFT_MS = 60_000;

const RADIX = 36;
const WALL_WIDTH = 10;
const COUNTER_WIDTH = 4;
/** Largest wall time the fixed-width encoding holds (about the year 117,000). */
export const MAX_WALL_MS = RADIX ** WALL_WIDTH - 1;
/** Largest counter the fixed-width encoding holds; past it the clock borrows the next millisecond. */
export const MAX_COUNTER = RADIX ** COUNTER_WIDTH - 1;
/** Origin ids are ASCII so that string order equals byte order wherever encoded stamps are sorted. */
export const ORIGIN_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const ENCODED_PATTERN = /^([0-9a-z]{10})([0-9a-z]{4})-([A-Za-z0-9._:-]{1,64})$/;

/** A remote stamp is further ahead of local physical time than the clock tolerates. */
export class ClockDriftError extends Error {
  override readonly name = "ClockDriftError";
  /** The refused stamp. */
  readonly remote: Stamp;
  /** How far ahead of local physical time it was, in ms. */
  readonly driftMs: number;
  /** The tolerance it exceeded. */
  readonly maxDriftMs: number;

  constructor(remote: Stamp, driftMs: number, maxDriftMs: number) {
    super(`stamp from ${remote.origin} is ${driftMs} ms ahead (max ${maxDriftMs} ms)`);
    this.remote = remote;
    this.driftMs = driftMs;
    this.maxDriftMs = maxDriftMs;
  }
}

/** Total order: wall time, then counter, then origin id (by UTF-16 code unit, like string `<`). */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.origin === b.origin) return 0;
  return a.origin < b.origin ? -1 : 1;
}

/** The later of two stamps. */
export function maxStamp(a: Stamp, b: Stamp): Stamp {
  return compareStamps(a, b) >= 0 ? a : b;
}

/**
 * Compact form `<wall:10 base36><counter:4 base36>-<origin>`. The fixed-width prefix makes plain
 * string comparison agree with `compareStamps`, so encoded stamps sort correctly as storage keys.
 */
export function encodeStamp(stamp: Stamp): string {
  if (!isValidStamp(stamp)) throw new RangeError(`not a valid stamp: ${JSON.stringify(stamp)}`);
  return (
    stamp.wallMs.toString(RADIX).padStart(WALL_WIDTH, "0") +
    stamp.counter.toString(RADIX).padStart(COUNTER_WIDTH, "0") +
    `-${stamp.origin}`
  );
}

/** Parses `encodeStamp` output; undefined when the text is not one. */
export function decodeStamp(text: string): Stamp | undefined {
  const match = ENCODED_PATTERN.exec(text);
  if (!match) return undefined;
  const [, wall = "", counter = "", origin = ""] = match;
  return {
    wallMs: Number.parseInt(wall, RADIX),
    counter: Number.parseInt(counter, RADIX),
    origin,
  };
}

/** Whether every field is in the range the encoding and the order rely on. */
export function isValidStamp(stamp: Stamp): boolean {
  return (
    Number.isSafeInteger(stamp.wallMs) &&
    stamp.wallMs >= 0 &&
    stamp.wallMs <= MAX_WALL_MS &&
    Number.isSafeInteger(stamp.counter) &&
    stamp.counter >= 0 &&
    stamp.counter <= MAX_COUNTER &&
    ORIGIN_PATTERN.test(stamp.origin)
  );
}

/**
 * A hybrid logical clock (Kulkarni et al.): stamps follow physical time when it moves forward and
 * stay monotonic and causally ordered when it does not. Time is passed in, never read, so the
 * clock is deterministic under test.
 */
export class HybridClock {
  /** The id stamped on every local event. */
  readonly origin: string;
  /** Tolerance for remote stamps ahead of local physical time. */
  readonly maxDriftMs: number;
  #last: Stamp;

  constructor(origin: string, options: HlcOptions = {}) {
    if (!ORIGIN_PATTERN.test(origin)) throw new RangeError(`bad origin id: ${origin}`);
    this.origin = origin;
    this.maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
    this.#last = options.last ?? { wallMs: 0, counter: 0, origin };
  }

  /** The latest stamp issued or merged; persist it to resume with `options.last`. */
  get last(): Stamp {
    return this.#last;
  }

  /** Stamps a local event happening at physical time `now`. */
  tick(now: number): Stamp {
    const wall = Math.max(this.#last.wallMs, Math.floor(now));
    const counter = wall === this.#last.wallMs ? this.#last.counter + 1 : 0;
    return this.#advance(wall, counter);
  }

  /**
   * Merges a stamp received from a peer, so that every later local stamp orders after it.
   * Throws ClockDriftError (leaving the clock unchanged) when the peer is too far ahead: accepting
   * it would drag every later local stamp into the future and let that peer win every write.
   */
  receive(remote: Stamp, now: number): Stamp {
    const physical = Math.floor(now);
    const drift = remote.wallMs - physical;
    if (drift > this.maxDriftMs) throw new ClockDriftError(remote, drift, this.maxDriftMs);
    const last = this.#last;
    const wall = Math.max(last.wallMs, remote.wallMs, physical);
    let counter = 0;
    if (wall === last.wallMs && wall === remote.wallMs) {
      counter = Math.max(last.counter, remote.counter) + 1;
    } else if (wall === last.wallMs) {
      counter = last.counter + 1;
    } else if (wall === remote.wallMs) {
      counter = remote.counter + 1;
    }
    return this.#advance(wall, counter);
  }

  #advance(wall: number, counter: number): Stamp {
    // A counter overflow borrows the next millisecond: still monotonic, and bounded by real load.
    const next =
      counter > MAX_COUNTER
        ? { wallMs: wall + 1, counter: 0, origin: this.origin }
        : { wallMs: wall, counter, origin: this.origin };
    if (next.wallMs > MAX_WALL_MS) throw new RangeError("clock beyond the encodable range");
    this.#last = next;
    return next;
  }
}
