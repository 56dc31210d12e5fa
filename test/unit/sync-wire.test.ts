import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeDigest } from "../../src/sync/digest.ts";
import { encodeStamp, type Stamp } from "../../src/sync/hlc.ts";
import { type Change, RouteTable } from "../../src/sync/route-table.ts";
import {
  changesBody,
  MAX_CHANGES,
  parseChanges,
  parseDigest,
  parseRoutesSince,
  parseSince,
  routesSinceBody,
  toWireChange,
} from "../../src/sync/wire.ts";

const T0 = 1_700_000_000_000;
const stamp: Stamp = { wallMs: T0, counter: 1, origin: "gw-eu" };
const S = encodeStamp(stamp);

const paths = (json: unknown) => {
  const result = parseChanges(json);
  return result.ok ? [] : result.issues.map((i) => i.path);
};

const changeArb: fc.Arbitrary<Change> = fc
  .record({
    key: fc
      .tuple(
        fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/),
        fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/),
      )
      .map(([s, n]) => `${s}/${n}`),
    stamp: fc.record({
      wallMs: fc.integer({ min: 0, max: 2 ** 48 }),
      counter: fc.integer({ min: 0, max: 1_000 }),
      origin: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
    }),
    kind: fc.constantFrom("upsert", "remove", "eject", "readmit", "drain", "weigh"),
    draining: fc.boolean(),
    record: fc.record(
      {
        url: fc.constantFrom("http://10.0.0.1:8080", "https://node.example/base"),
        dc: fc.constantFrom("fra", "iad"),
        rack: fc.constantFrom("r1", "r2"),
        weight: fc.integer({ min: 1, max: 100 }),
      },
      { requiredKeys: ["url", "weight"] },
    ),
    until: fc.integer({ min: 0, max: 2 ** 48 }),
  })
  .map(({ key, stamp, kind, record, until, draining }): Change => {
    if (kind === "upsert") return { key, stamp, kind, record };
    if (kind === "eject") return { key, stamp, kind, until };
    if (kind === "drain") return { key, stamp, kind, draining };
    if (kind === "weigh") return { key, stamp, kind, weight: draining ? null : record.weight };
    return { key, stamp, kind: kind as "remove" | "readmit" };
  });

describe("parseChanges", () => {
  it("decodes a body, stamps included", () => {
    const result = parseChanges({
      origin: "gw-eu",
      changes: [
        { key: "echo/n1", stamp: S, kind: "upsert", record: { url: "http://n1:80", weight: 2 } },
        { key: "echo/n1", stamp: S, kind: "eject", until: T0 + 30_000 },
        { key: "echo/n2", stamp: S, kind: "remove" },
      ],
    });
    expect(result).toEqual({
      ok: true,
      value: {
        origin: "gw-eu",
        changes: [
          { key: "echo/n1", stamp, kind: "upsert", record: { url: "http://n1:80", weight: 2 } },
          { key: "echo/n1", stamp, kind: "eject", until: T0 + 30_000 },
          { key: "echo/n2", stamp, kind: "remove" },
        ],
      },
    });
  });

  it("round-trips any change through JSON text", () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 20 }), (changes) => {
        const text = JSON.stringify(changesBody("gw-eu", changes));
        expect(parseChanges(text)).toEqual({ ok: true, value: { origin: "gw-eu", changes } });
      }),
    );
  });

  it("names the path of every bad field", () => {
    expect(
      paths({
        origin: "bad origin",
        changes: [
          { key: "Echo/n1", stamp: S, kind: "remove" },
          { key: "echo/n1", stamp: "yesterday", kind: "readmit" },
          { key: "echo/n1", stamp: S, kind: "upsert", record: { url: "ftp://x", weight: 0 } },
          { key: "echo/n1", stamp: S, kind: "eject" },
          { key: "echo/n1", stamp: S, kind: "explode" },
          { key: "echo/n1", stamp: S, kind: "remove", extra: 1 },
        ],
      }),
    ).toEqual([
      "origin",
      "changes[0].key",
      "changes[1].stamp",
      "changes[2].record.url",
      "changes[2].record.weight",
      "changes[3].until",
      "changes[4].kind",
      "changes[5]",
    ]);
  });

  it("bounds the number and size of changes", () => {
    const remove = { key: "echo/n1", stamp: S, kind: "remove" };
    expect(paths({ origin: "a", changes: Array(MAX_CHANGES).fill(remove) })).toEqual([]);
    expect(paths({ origin: "a", changes: Array(MAX_CHANGES + 1).fill(remove) })).toEqual([
      "changes",
    ]);
    const longUrl = `http://n1/${"x".repeat(2_100)}`;
    expect(
      paths({
        origin: "a",
        changes: [{ ...remove, kind: "upsert", record: { url: longUrl, weight: 1 } }],
      }),
    ).toEqual(["changes[0].record.url"]);
    expect(
      paths({ origin: "a", changes: [{ ...remove, key: `echo/${"n".repeat(129)}` }] }),
    ).toEqual(["changes[0].key"]);
  });

  it("reports text that is not JSON, and a missing body", () => {
    expect(paths("{")).toEqual(["(root)"]);
    expect(paths(undefined)).toEqual(["(root)"]);
    expect(paths({ origin: "a" })).toEqual(["changes"]);
  });
});

describe("toWireChange", () => {
  it("drops fields a change of its kind does not carry", () => {
    const stray = { key: "echo/n1", stamp, kind: "remove", until: 5 } as Change;
    expect(toWireChange(stray)).toEqual({ key: "echo/n1", stamp: S, kind: "remove" });
  });
});

describe("parseSince", () => {
  it("treats an absent or empty cursor as the beginning", () => {
    expect(parseSince(undefined)).toEqual({ ok: true, value: undefined });
    expect(parseSince("")).toEqual({ ok: true, value: undefined });
  });

  it("decodes a stamp and names the parameter when it is not one", () => {
    expect(parseSince(S)).toEqual({ ok: true, value: stamp });
    expect(parseSince("42")).toMatchObject({ ok: false, issues: [{ path: "since" }] });
  });
});

describe("responses", () => {
  it("decodes a digest as computed", async () => {
    const table = new RouteTable();
    table.apply({ key: "echo/n1", stamp, kind: "remove" });
    const digest = await computeDigest(table);
    expect(parseDigest(JSON.stringify({ origin: "gw-eu", ...digest }))).toEqual({
      ok: true,
      value: { origin: "gw-eu", ...digest },
    });
    expect(parseDigest({ origin: "gw-eu", buckets: ["x"], top: digest.top })).toMatchObject({
      ok: false,
      issues: [{ path: "buckets[0]" }],
    });
    expect(parseDigest({ origin: "gw-eu", buckets: [], top: digest.top })).toMatchObject({
      ok: false,
      issues: [{ path: "buckets" }],
    });
  });

  it("decodes a routes-since page", () => {
    const changes: Change[] = [{ key: "echo/n1", stamp, kind: "readmit" }];
    const body = routesSinceBody("gw-eu", changes, true);
    expect(parseRoutesSince(JSON.stringify(body))).toEqual({
      ok: true,
      value: { origin: "gw-eu", changes, more: true },
    });
    expect(parseRoutesSince({ origin: "gw-eu", changes: [] })).toMatchObject({
      ok: false,
      issues: [{ path: "more" }],
    });
  });
});
