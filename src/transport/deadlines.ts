/** What the deadline queue needs of an entry. */
export interface Timed {
  /** Breaks ties between equal deadlines: the lower id expires first, as timers would. */
  readonly id: number;
  /** performance.now() at which the entry expires. */
  readonly deadline: number;
  /** Settled entries are dropped unexpired. */
  readonly settled: boolean;
}

const MIN_COMPACT_AT = 1024;

/**
 * The deadlines of a stream's invocations on a single timer, armed for the earliest one. A timer
 * per invocation costs a runtime call to set and another to clear; in workerd those two were
 * 40% of the stream's time per invocation (docs/benchmarks.md, stream). Settling an entry costs
 * nothing here: settled entries are skipped when they come to the top, or dropped in a
 * compaction once they make up half of the heap: whenever the heap grows, it holds at most
 * about four times the live entries (plus a constant). The timer is left armed when entries settle, since clearing and
 * setting it again is the very cost avoided; when it fires with nothing due it re-arms for the
 * earliest live entry, or stops.
 */
export class Deadlines<T extends Timed> {
  readonly #expire: (entry: T) => void;
  /** Min-heap on (deadline, id). */
  #heap: T[] = [];
  #compactAt = MIN_COMPACT_AT;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Deadline the timer is armed for; Infinity when none is. */
  #armedFor = Number.POSITIVE_INFINITY;

  /** `expire` runs once for each entry whose deadline passes while it is unsettled. */
  constructor(expire: (entry: T) => void) {
    this.#expire = expire;
  }

  /** Entries held, settled ones not yet dropped included. */
  get size(): number {
    return this.#heap.length;
  }

  add(entry: T): void {
    if (this.#heap.length >= this.#compactAt) this.#compact();
    const heap = this.#heap;
    heap.push(entry);
    siftUp(heap, heap.length - 1);
    if (entry.deadline < this.#armedFor) this.#arm(entry.deadline);
  }

  /** Stops the timer and forgets every entry, none expiring. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#heap = [];
    this.#compactAt = MIN_COMPACT_AT;
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = deadline;
    // A timer may fire a little before the clock reads its deadline; #fire then re-arms.
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(deadline - performance.now())));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const heap = this.#heap;
    for (let top = heap[0]; top !== undefined; top = heap[0]) {
      if (!top.settled && top.deadline > now) {
        this.#arm(top.deadline);
        return;
      }
      pop(heap);
      if (!top.settled) this.#expire(top);
    }
  };

  /**
   * Drops settled entries and rebuilds the heap, if they are half of it or more; else only
   * moves the next check further out. Linear either way, and only when the heap has doubled.
   */
  #compact(): void {
    let settled = 0;
    for (const entry of this.#heap) if (entry.settled) settled++;
    if (settled * 2 < this.#heap.length) {
      this.#compactAt = this.#heap.length * 2;
      return;
    }
    const live = this.#heap.filter((entry) => !entry.settled);
    for (let i = (live.length >> 1) - 1; i >= 0; i--) siftDown(live, i);
    this.#heap = live;
    this.#compactAt = Math.max(MIN_COMPACT_AT, live.length * 2);
  }
}

function before(a: Timed, b: Timed): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.id < b.id);
}

function siftUp<T extends Timed>(heap: T[], at: number): void {
  const entry = heap[at] as T;
  while (at > 0) {
    const up = (at - 1) >> 1;
    const parent = heap[up] as T;
    if (!before(entry, parent)) break;
    heap[at] = parent;
    at = up;
  }
  heap[at] = entry;
}

function siftDown<T extends Timed>(heap: T[], at: number): void {
  const entry = heap[at] as T;
  const half = heap.length >> 1;
  while (at < half) {
    let child = 2 * at + 1;
    const right = child + 1;
    if (right < heap.length && before(heap[right] as T, heap[child] as T)) child = right;
    if (!before(heap[child] as T, entry)) break;
    heap[at] = heap[child] as T;
    at = child;
  }
  heap[at] = entry;
}

function pop<T extends Timed>(heap: T[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  heap[0] = last;
  siftDown(heap, 0);
}
