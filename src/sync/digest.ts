import { sha256Hex } from "./bytes.ts";
import { encodeStamp } from "./hlc.ts";
import type { Change, RouteTable } from "./route-table.ts";

/** Buckets a digest splits the key space into, unless told otherwise. */
export const DEFAULT_BUCKET_COUNT = 64;
/** Most buckets a digest may have (bounds the wire body). */
export const MAX_BUCKET_COUNT = 256;

/** A summary of a route table that two gateways compare to find where they disagree. */
export interface Digest {
  /** SHA-256 (hex) per bucket of the bucket's sorted `key@stamp@recordStamp` lines. */
  readonly buckets: readonly string[];
  /** SHA-256 (hex) of the bucket hashes in order; equal tops mean equal tables. */
  readonly top: string;
}

/**
 * Bucket of a key: FNV-1a (32 bit) over its UTF-16 code units, modulo the bucket count. Cheap and
 * synchronous, the same on every runtime; only the bucket hashes need to resist collisions.
 */
export function bucketOf(key: string, bucketCount = DEFAULT_BUCKET_COUNT): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % bucketCount;
}

/**
 * Digest of a table. A line names both register stamps of a key, so tables that agree on the
 * last write but not on the record (one peer missed an upsert that an eject overtook) differ.
 * Stamps identify writes (unique per origin and event), so hashing content as well is unneeded.
 */
export async function computeDigest(
  table: RouteTable,
  bucketCount = DEFAULT_BUCKET_COUNT,
): Promise<Digest> {
  checkBucketCount(bucketCount);
  const lines: string[][] = Array.from({ length: bucketCount }, () => []);
  for (const key of [...table.keys()].sort()) {
    // Every register's last write, so entries that differ in any register differ here.
    const held = table.changesFor(key).map((c) => `${c.kind}@${encodeStamp(c.stamp)}`);
    lines[bucketOf(key, bucketCount)]?.push(`${key}|${held.join("|")}`);
  }
  const buckets = await Promise.all(lines.map((bucket) => sha256Hex(bucket.join("\n"))));
  return { buckets, top: await sha256Hex(buckets.join("")) };
}

/** Indices of the buckets that differ, ascending; every bucket when the shapes differ. */
export function diffDigests(a: Digest, b: Digest): number[] {
  if (a.buckets.length !== b.buckets.length) {
    return Array.from({ length: Math.max(a.buckets.length, b.buckets.length) }, (_, i) => i);
  }
  if (a.top === b.top) return [];
  const differ: number[] = [];
  a.buckets.forEach((hash, i) => {
    if (hash !== b.buckets[i]) differ.push(i);
  });
  return differ;
}

/** The changes that rebuild every entry in the given buckets, sorted by key then stamp. */
export function bucketChanges(
  table: RouteTable,
  buckets: Iterable<number>,
  bucketCount = DEFAULT_BUCKET_COUNT,
): Change[] {
  checkBucketCount(bucketCount);
  const wanted = new Set(buckets);
  const keys = [...table.keys()].filter((key) => wanted.has(bucketOf(key, bucketCount))).sort();
  return keys.flatMap((key) => table.changesFor(key));
}

function checkBucketCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BUCKET_COUNT) {
    throw new RangeError(`bucket count must be an integer in 1..${MAX_BUCKET_COUNT}`);
  }
}
