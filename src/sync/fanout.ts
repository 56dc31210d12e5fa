import { bucketOf } from "./digest.ts";
import { compareStamps, type Stamp } from "./hlc.ts";
import { type Change, compareChanges } from "./route-table.ts";

/**
 * The fan-out shard a peer belongs to: FNV-1a of its name, modulo the shard count. Stable across
 * isolates and restarts, so a peer's queue always lives in the same object.
 */
export function shardOf(peer: string, shards: number): number {
  return bucketOf(peer, shards);
}

/**
 * Connections each shard may use so that together they use exactly `maxInFlight`: the bound
 * divided as evenly as it goes (64 over 11 shards: nine of 6 and two of 5), never more than
 * `perShardCap` (6, what one Worker invocation may hold) and never less than 1.
 */
export function shardLimits(maxInFlight: number, shards: number, perShardCap = 6): number[] {
  const base = Math.floor(maxInFlight / shards);
  const extra = maxInFlight % shards;
  return Array.from({ length: shards }, (_, i) =>
    Math.max(1, Math.min(perShardCap, base + (i < extra ? 1 : 0))),
  );
}

/** One page of changes after a cursor. */
export interface ChangePage {
  readonly changes: Change[];
  /** More changes follow the page. */
  readonly more: boolean;
}

/**
 * The changes stamped strictly after `after`, in stamp order, at most `limit` of them, except that
 * changes sharing the page's last stamp are never split across pages (a cursor at that stamp
 * would skip the rest).
 */
export function pageAfter(
  changes: readonly Change[],
  after: Stamp | undefined,
  limit: number,
): ChangePage {
  const sorted = changes
    .filter((c) => after === undefined || compareStamps(c.stamp, after) > 0)
    .sort(compareChanges);
  if (sorted.length <= limit) return { changes: sorted, more: false };
  let end = Math.max(1, Math.floor(limit));
  const last = (sorted[end - 1] as Change).stamp;
  while (end < sorted.length && compareStamps((sorted[end] as Change).stamp, last) === 0) end++;
  return { changes: sorted.slice(0, end), more: end < sorted.length };
}

/**
 * Like pageAfter, for changes already sorted by stamp: a binary search instead of a scan, so a
 * cached sorted list answers each call in O(log n + page).
 */
export function sliceAfter(
  sorted: readonly Change[],
  after: Stamp | undefined,
  limit: number,
): ChangePage {
  let lo = 0;
  if (after !== undefined) {
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareStamps((sorted[mid] as Change).stamp, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
  }
  const max = Math.max(0, Math.floor(limit));
  if (max === 0) return { changes: [], more: lo < sorted.length };
  let end = Math.min(sorted.length, lo + max);
  if (end > lo && end < sorted.length) {
    const last = (sorted[end - 1] as Change).stamp;
    while (end < sorted.length && compareStamps((sorted[end] as Change).stamp, last) === 0) end++;
  }
  return { changes: sorted.slice(lo, end), more: end < sorted.length };
}

/** Parses a `buckets` query value (`3,17,40`); undefined for none, null when malformed. */
export function parseBuckets(
  param: string | undefined,
  bucketCount: number,
): number[] | undefined | null {
  if (param === undefined || param === "") return undefined;
  const parts = param.split(",");
  if (parts.length > bucketCount) return null;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n >= bucketCount) return null;
    out.push(n);
  }
  return out;
}
