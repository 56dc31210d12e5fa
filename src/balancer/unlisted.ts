/**
 * How long the records of a node listed nowhere are kept, and how many such nodes at most. A
 * node that returns within the retention is known as returning (its old ejection is lifted);
 * past it, any ejection it earned has run out and it is a new node. The cap holds the state
 * bounded however fast a discovery answerer churns names.
 */
export interface UnlistedRetention {
  readonly retentionMs: number;
  readonly max: number;
}

/** The default: longer than the default longest ejection (5 min), at most 1,024 nodes. */
const UNLISTED_RETENTION: UnlistedRetention = { retentionMs: 10 * 60_000, max: 1_024 };

/**
 * Updates `unlistedAt` (when each node with records was first seen unlisted) from the nodes
 * listed now and the ids that hold records, and answers the ids whose records to forget: the
 * longest unlisted past the cap, and any unlisted for longer than the retention. Forgotten ids
 * leave `unlistedAt` too.
 */
export function unlistedToForget(
  unlistedAt: Record<string, number>,
  listed: ReadonlySet<string>,
  recorded: Iterable<string>,
  now: number,
  retention: UnlistedRetention = UNLISTED_RETENTION,
): string[] {
  for (const id of Object.keys(unlistedAt)) if (listed.has(id)) delete unlistedAt[id];
  for (const id of recorded) if (!listed.has(id)) unlistedAt[id] ??= now;
  const byAge = Object.entries(unlistedAt).sort((a, b) => a[1] - b[1]);
  const over = byAge.length - retention.max;
  const forget: string[] = [];
  for (const [at, [id, since]] of byAge.entries()) {
    if (at >= over && now - since <= retention.retentionMs) break;
    forget.push(id);
    delete unlistedAt[id];
  }
  return forget;
}
