import type { Stamp } from "./hlc.ts";
import { type Change, compareChanges, RouteTable } from "./route-table.ts";

/**
 * A fan-out shard's mirror of the changes its gateway made itself: the route table's entries as
 * far as they were read, and those of this gateway's own origin in stamp order, kept sorted as
 * pages arrive (the peer queues read from it). Others' changes reach each peer from their origin.
 */
export class OwnChanges {
  readonly #table = new RouteTable();
  readonly #origin: () => string | undefined;
  #cursor: Stamp | undefined;
  #sorted: Change[] = [];

  /** @param origin this gateway's id, read when a page is applied */
  constructor(origin: () => string | undefined) {
    this.#origin = origin;
  }

  /** Where the next page starts: the last stamp read. */
  get cursor(): Stamp | undefined {
    return this.#cursor;
  }

  /** This gateway's own changes, in stamp order. */
  get sorted(): readonly Change[] {
    return this.#sorted;
  }

  /** Own changes after `after` (all when undefined), in stamp order. */
  since(after: Stamp | undefined): Change[] {
    const origin = this.#origin();
    return origin === undefined ? [] : this.#table.since(after, { origin });
  }

  /** Takes a page of the route table's own changes, in stamp order. */
  apply(page: readonly Change[]): void {
    const changed = new Set<string>();
    for (const change of page) if (this.#table.apply(change)) changed.add(change.key);
    this.#resort(changed);
    const last = page.at(-1);
    if (last) this.#cursor = last.stamp;
  }

  /** Replaces the sorted entries of changed keys by their current own changes, in stamp order. */
  #resort(keys: ReadonlySet<string>): void {
    const origin = this.#origin();
    if (keys.size === 0 || origin === undefined) return;
    const sorted = this.#sorted.filter((c) => !keys.has(c.key));
    for (const key of keys) {
      for (const change of this.#table.changesFor(key)) {
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
    this.#sorted = sorted;
  }
}
