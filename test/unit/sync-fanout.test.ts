import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import {
  pageAfter,
  parseBuckets,
  shardLimits,
  shardOf,
  sliceAfter,
} from "../../src/sync/fanout.ts";
import type { Stamp } from "../../src/sync/hlc.ts";
import type { Change } from "../../src/sync/route-table.ts";

const stamp = (wallMs: number, counter = 0, origin = "a"): Stamp => ({ wallMs, counter, origin });
const change = (key: string, s: Stamp): Change => ({ key: `svc/${key}`, stamp: s, kind: "remove" });

describe("shard limits", () => {
  it("divides the default bound of 64 over 11 shards as nine of 6 and two of 5", () => {
    const limits = shardLimits(64, 11);
    expect(limits.reduce((a, b) => a + b, 0)).toBe(64);
    expect(limits.filter((l) => l === 6)).toHaveLength(9);
    expect(limits.filter((l) => l === 5)).toHaveLength(2);
  });

  it("never gives a shard more than one invocation's 6 connections, nor fewer than 1", () => {
    for (let shards = 1; shards <= 64; shards++) {
      for (const bound of [shards, 3 * shards, 6 * shards]) {
        const limits = shardLimits(bound, shards);
        expect(Math.max(...limits)).toBeLessThanOrEqual(6);
        expect(Math.min(...limits)).toBeGreaterThanOrEqual(1);
        expect(limits.reduce((a, b) => a + b, 0)).toBe(bound);
      }
    }
  });
});

describe("shardOf", () => {
  it("places a peer in the same shard every time and spreads 200 peers over all 11", () => {
    const names = Array.from({ length: 200 }, (_, i) => `peer-${i}`);
    const counts = new Array(11).fill(0);
    for (const name of names) {
      const shard = shardOf(name, 11);
      expect(shard).toBe(shardOf(name, 11));
      counts[shard]++;
    }
    expect(Math.min(...counts)).toBeGreaterThan(5);
    expect(Math.max(...counts)).toBeLessThan(40);
  });
});

describe("pageAfter", () => {
  it("pages in stamp order after the cursor without splitting changes that share a stamp", () => {
    const changes = [
      change("c", stamp(3)),
      change("a", stamp(1)),
      change("b1", stamp(2)),
      change("b2", stamp(2)),
      change("d", stamp(4)),
    ];
    const first = pageAfter(changes, undefined, 2);
    expect(first.changes.map((c) => c.key)).toEqual(["svc/a", "svc/b1", "svc/b2"]);
    expect(first.more).toBe(true);
    const second = pageAfter(changes, first.changes.at(-1)?.stamp, 2);
    expect(second.changes.map((c) => c.key)).toEqual(["svc/c", "svc/d"]);
    expect(second.more).toBe(false);
  });
});

describe("sliceAfter", () => {
  it("answers exactly as pageAfter does, for every cursor and limit", () => {
    const changes = [1, 2, 2, 2, 3, 5, 5, 8].map((wall, i) => change(`k${i}`, stamp(wall)));
    const sorted = pageAfter(changes, undefined, 100).changes;
    for (const after of [undefined, ...[0, 1, 2, 3, 4, 5, 8, 9].map((w) => stamp(w))]) {
      for (const limit of [1, 2, 3, 10]) {
        expect(sliceAfter(sorted, after, limit)).toEqual(pageAfter(changes, after, limit));
      }
    }
  });
});

describe("parseBuckets", () => {
  it.each([
    ["", undefined],
    ["3", [3]],
    ["0,17,63", [0, 17, 63]],
    ["64", null],
    ["1,x", null],
    ["-1", null],
  ])("reads %j", (text, expected) => {
    expect(parseBuckets(text, 64)).toEqual(expected);
  });
});

describe("peer sync configuration", () => {
  const base = { services: [] };
  const issues = (extra: Record<string, unknown>) => {
    const result = parseConfig({ ...base, ...extra });
    return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it("is off without peers and fills in documented defaults", () => {
    const off = parseConfig(base);
    expect(off.ok && off.sync).toBeUndefined();
    const on = parseConfig({
      ...base,
      gatewayId: "gw-a",
      peers: [{ name: "gw-b", url: "http://127.0.0.1:1" }],
    });
    if (!on.ok) throw new Error(JSON.stringify(on.issues));
    expect(on.sync?.settings).toEqual({
      batchSize: 128,
      requestTimeoutMs: 100,
      retrySteps: 3,
      retryBaseMs: 10,
      retryFactor: 2,
      retryJitter: 0.2,
      peerDeadlineMs: 300,
      peerBackoffMs: 1_000,
      peerBackoffMaxMs: 300_000,
      reconcileIntervalMs: 30_000,
      shards: 11,
      maxInFlight: 64,
      maxClockDriftMs: 60_000,
    });
  });

  it("needs a gatewayId with peers, and unique peer names other than itself", () => {
    const peer = (name: string) => ({ name, url: "http://127.0.0.1:1" });
    expect(issues({ peers: [peer("b")] })).toEqual(["gatewayId: required when peers are set"]);
    expect(issues({ gatewayId: "a", peers: [peer("b"), peer("b"), peer("a")] })).toEqual([
      "peers[1].name: duplicate name",
      "peers[2].name: is this gateway's id",
    ]);
  });

  it("refuses retries that could sleep longer than one request, and a bound shards cannot hold", () => {
    expect(issues({ sync: { retryBaseMs: 40 } })).toEqual([
      expect.stringMatching(
        /^sync: max total sleep 336 ms is not below the per-request timeout 100/,
      ),
    ]);
    expect(issues({ sync: { shards: 2, maxInFlight: 13 } })).toEqual([
      expect.stringMatching(/^sync\.maxInFlight: above shards × 6/),
    ]);
    expect(issues({ sync: { shards: 8, maxInFlight: 4 } })).toEqual([
      expect.stringMatching(/^sync\.maxInFlight: below shards/),
    ]);
  });
});
