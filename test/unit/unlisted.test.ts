import { describe, expect, it } from "vitest";
import { unlistedToForget } from "../../src/balancer/unlisted.ts";

describe("records of unlisted nodes", () => {
  const retention = { retentionMs: 60_000, max: 8 };

  it("stay bounded over 50 rounds of churn, by the retention and by the cap", () => {
    const unlistedAt: Record<string, number> = {};
    const records = new Set<string>();
    let now = 0;
    for (let round = 0; round < 50; round++) {
      // Each round lists two new nodes; the last round's leave the lists.
      const listed = new Set([`r${round}-a`, `r${round}-b`]);
      for (const id of listed) records.add(id);
      for (const id of unlistedToForget(unlistedAt, listed, records, now, retention)) {
        records.delete(id);
      }
      expect(records.size).toBeLessThanOrEqual(2 + retention.max);
      now += 5_000;
    }
    // Unlisted 5 s apart, two a round: the cap (8) binds before the minute's retention (24).
    expect(Object.keys(unlistedAt)).toHaveLength(8);
    expect(records.has("r49-a") && records.has("r45-b")).toBe(true);
    expect(records.has("r44-b")).toBe(false);
  });

  it("forgets a node unlisted longer than the retention, and keeps one that returns", () => {
    const unlistedAt: Record<string, number> = {};
    const both = new Set(["a", "b"]);
    expect(unlistedToForget(unlistedAt, both, both, 0, retention)).toEqual([]);
    expect(unlistedToForget(unlistedAt, new Set(), both, 1_000, retention)).toEqual([]);
    expect(unlistedAt).toEqual({ a: 1_000, b: 1_000 });
    // a returns before the retention ends: no longer unlisted; b goes once it has passed.
    expect(unlistedToForget(unlistedAt, new Set(["a"]), both, 30_000, retention)).toEqual([]);
    expect(unlistedAt).toEqual({ b: 1_000 });
    expect(unlistedToForget(unlistedAt, new Set(["a"]), both, 61_001, retention)).toEqual(["b"]);
    expect(unlistedAt).toEqual({});
  });
});
