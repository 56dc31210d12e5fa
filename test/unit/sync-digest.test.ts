import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bucketChanges,
  bucketOf,
  computeDigest,
  DEFAULT_BUCKET_COUNT,
  diffDigests,
} from "../../src/sync/digest.ts";
import type { Stamp } from "../../src/sync/hlc.ts";
import { type Change, RouteTable } from "../../src/sync/route-table.ts";

const T0 = 1_700_000_000_000;
const at = (wallMs: number, counter = 0, origin = "a"): Stamp => ({ wallMs, counter, origin });
const upsert = (key: string, stamp: Stamp): Change => ({
  key,
  stamp,
  kind: "upsert",
  record: { url: "http://n:1", weight: 1 },
});

const keyArb = fc
  .tuple(fc.constantFrom("echo", "api", "web"), fc.stringMatching(/^[a-z0-9]{1,6}$/))
  .map(([service, node]) => `${service}/${node}`);

const changeArb: fc.Arbitrary<Change> = fc
  .record({
    key: keyArb,
    wallMs: fc.integer({ min: T0, max: T0 + 1_000 }),
    origin: fc.constantFrom("a", "b"),
    kind: fc.constantFrom("upsert", "remove", "eject", "readmit", "drain", "weigh"),
  })
  .map(({ key, wallMs, origin, kind }): Change => {
    const stamp = at(wallMs, 0, origin);
    if (kind === "upsert") return upsert(key, stamp);
    if (kind === "eject") return { key, stamp, kind, until: T0 + 5_000 };
    if (kind === "drain") return { key, stamp, kind, draining: wallMs % 2 === 0 };
    if (kind === "weigh") return { key, stamp, kind, weight: wallMs % 3 === 0 ? null : 2 };
    return { key, stamp, kind: kind as "remove" | "readmit" };
  });

const build = (changes: readonly Change[]) => {
  const table = new RouteTable();
  table.applyAll(changes);
  return table;
};

describe("bucketOf", () => {
  it("spreads keys over every bucket, within range", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      const bucket = bucketOf(`echo/node-${i}`);
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(DEFAULT_BUCKET_COUNT);
      seen.add(bucket);
    }
    expect(seen.size).toBe(DEFAULT_BUCKET_COUNT);
  });

  it("is a fixed function of the key, the same on every runtime", () => {
    expect(bucketOf("echo/n1")).toBe(bucketOf("echo/n1"));
    // FNV-1a 32 of "a" is 0xe40c292c.
    expect(bucketOf("a", 256)).toBe(0x2c);
  });
});

describe("computeDigest", () => {
  it("gives equal digests for tables built from the same changes in any order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(changeArb, { maxLength: 40 })
          .chain((changes) =>
            fc.tuple(
              fc.constant(changes),
              fc.shuffledSubarray(changes, { minLength: changes.length }),
            ),
          ),
        async ([changes, shuffled]) => {
          const [a, b] = await Promise.all([
            computeDigest(build(changes)),
            computeDigest(build(shuffled)),
          ]);
          expect(a).toEqual(b);
          expect(diffDigests(a, b)).toEqual([]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("has the requested number of hex SHA-256 buckets", async () => {
    const digest = await computeDigest(new RouteTable(), 16);
    expect(digest.buckets).toHaveLength(16);
    for (const hash of [...digest.buckets, digest.top]) expect(hash).toMatch(/^[0-9a-f]{64}$/);
    await expect(computeDigest(new RouteTable(), 0)).rejects.toThrow(RangeError);
    await expect(computeDigest(new RouteTable(), 257)).rejects.toThrow(RangeError);
  });

  it("flags exactly the bucket of any single difference", async () => {
    const difference = fc.oneof(
      // A key one side lacks.
      changeArb.map((change) => ({ change })),
      // A newer write to a key both sides have.
      fc.constant({ newer: true as const }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(changeArb, { minLength: 1, maxLength: 30 }),
        difference,
        async (changes, diff) => {
          const base = build(changes);
          const other = build(changes);
          let key: string;
          if ("change" in diff) {
            if (base.get(diff.change.key)) return;
            other.apply(diff.change);
            key = diff.change.key;
          } else {
            const first = base.entries()[0]!;
            key = first.key;
            other.apply({ key, stamp: at(T0 + 2_000), kind: "readmit" });
          }
          const [a, b] = await Promise.all([computeDigest(base), computeDigest(other)]);
          expect(a.top).not.toBe(b.top);
          expect(diffDigests(a, b)).toEqual([bucketOf(key)]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("tells apart tables that differ only in a record an ejection overtook", async () => {
    const eject: Change = { key: "echo/n1", stamp: at(T0 + 2), kind: "eject", until: T0 + 9 };
    const full = build([upsert("echo/n1", at(T0 + 1)), eject]);
    const partial = build([eject]);
    const [a, b] = await Promise.all([computeDigest(full), computeDigest(partial)]);
    expect(diffDigests(a, b)).toEqual([bucketOf("echo/n1")]);
  });
});

describe("diffDigests and bucketChanges", () => {
  it("treats digests of different shapes as differing everywhere", async () => {
    const [a, b] = await Promise.all([
      computeDigest(new RouteTable(), 4),
      computeDigest(new RouteTable(), 8),
    ]);
    expect(diffDigests(a, b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("lists only the entries of the asked buckets", () => {
    const table = build(Array.from({ length: 50 }, (_, i) => upsert(`echo/n${i}`, at(T0 + i))));
    const wanted = [bucketOf("echo/n7"), bucketOf("echo/n30")];
    const changes = bucketChanges(table, wanted);
    expect(changes.map((c) => c.key)).toContain("echo/n7");
    expect(changes.map((c) => c.key)).toContain("echo/n30");
    for (const change of changes) expect(wanted).toContain(bucketOf(change.key));
    const keys = changes.map((c) => c.key);
    expect(keys).toEqual([...keys].sort());
  });

  it("reconciles two diverged tables by exchanging only the differing buckets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(changeArb, { maxLength: 30 }),
        fc.array(changeArb, { maxLength: 30 }),
        fc.array(changeArb, { maxLength: 30 }),
        async (shared, onlyA, onlyB) => {
          const a = build([...shared, ...onlyA]);
          const b = build([...shared, ...onlyB]);
          const differ = diffDigests(await computeDigest(a), await computeDigest(b));
          const fromA = bucketChanges(a, differ);
          const fromB = bucketChanges(b, differ);
          a.applyAll(fromB);
          b.applyAll(fromA);
          const [da, db] = [await computeDigest(a), await computeDigest(b)];
          expect(da).toEqual(db);
          expect(a.entries()).toEqual(build([...shared, ...onlyA, ...onlyB]).entries());
        },
      ),
      { numRuns: 50 },
    );
  });
});
