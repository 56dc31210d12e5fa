import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Stamp } from "../../src/sync/hlc.ts";
import {
  type Change,
  isRoutable,
  parseRouteKey,
  type RouteRecord,
  RouteTable,
  routeKey,
} from "../../src/sync/route-table.ts";

const T0 = 1_700_000_000_000;
const at = (wallMs: number, counter = 0, origin = "a"): Stamp => ({ wallMs, counter, origin });
const rec = (url = "http://n1:8080", weight = 1): RouteRecord => ({ url, weight });
const K = "echo/n1";

const upsert = (stamp: Stamp, record = rec(), key = K): Change => ({
  key,
  stamp,
  kind: "upsert",
  record,
});
const remove = (stamp: Stamp, key = K): Change => ({ key, stamp, kind: "remove" });
const eject = (stamp: Stamp, until: number, key = K): Change => ({
  key,
  stamp,
  kind: "eject",
  until,
});
const readmit = (stamp: Stamp, key = K): Change => ({ key, stamp, kind: "readmit" });

/** Changes over few keys, stamps and origins, so that they collide often. */
const changeArb: fc.Arbitrary<Change> = fc
  .record({
    key: fc.constantFrom("echo/n1", "echo/n2", "api/n1"),
    stamp: fc.record({
      wallMs: fc.integer({ min: T0, max: T0 + 4 }),
      counter: fc.integer({ min: 0, max: 2 }),
      origin: fc.constantFrom("a", "b", "c"),
    }),
    kind: fc.constantFrom("upsert", "remove", "eject", "readmit", "drain", "weigh"),
    url: fc.constantFrom("http://x:1", "http://y:2"),
    weight: fc.integer({ min: 1, max: 3 }),
    until: fc.integer({ min: T0, max: T0 + 2 }),
    draining: fc.boolean(),
  })
  .map(({ key, stamp, kind, url, weight, until, draining }): Change => {
    switch (kind) {
      case "upsert":
        return { key, stamp, kind, record: { url, weight } };
      case "eject":
        return { key, stamp, kind, until };
      case "drain":
        return { key, stamp, kind, draining };
      case "weigh":
        return { key, stamp, kind, weight: weight === 3 ? null : weight };
      default:
        return { key, stamp, kind: kind as "remove" | "readmit" };
    }
  });

const build = (changes: readonly Change[]) => {
  const table = new RouteTable();
  table.applyAll(changes);
  return table;
};

describe("route keys", () => {
  it("joins and splits service and node id", () => {
    expect(routeKey("echo", "10.0.0.1:8080")).toBe("echo/10.0.0.1:8080");
    expect(parseRouteKey("echo/10.0.0.1:8080")).toEqual({
      service: "echo",
      nodeId: "10.0.0.1:8080",
    });
  });

  it.each(["Echo/n1", "echo/", "/n1", "echo/n/1", "echo n1", "echo/n 1"])("rejects %j", (key) => {
    expect(parseRouteKey(key)).toBeUndefined();
    const [service = "", nodeId = ""] = key.split("/");
    if (`${service}/${nodeId}` === key) expect(() => routeKey(service, nodeId)).toThrow(RangeError);
  });
});

describe("RouteTable.apply", () => {
  it("registers a node as active", () => {
    const table = new RouteTable();
    expect(table.apply(upsert(at(T0), { url: "http://n1:8080", dc: "fra", weight: 2 }))).toBe(true);
    expect(table.get(K)).toEqual({
      key: K,
      record: { url: "http://n1:8080", dc: "fra", weight: 2 },
      state: { kind: "active" },
      stamp: at(T0),
      recordStamp: at(T0),
      draining: false,
      weight: null,
    });
    expect(table.size).toBe(1);
  });

  it("keeps an operator's drain and weight apart from the state and from each other", () => {
    const drain = (stamp: Stamp, draining: boolean): Change => ({
      key: K,
      stamp,
      kind: "drain",
      draining,
    });
    const weigh = (stamp: Stamp, weight: number | null): Change => ({
      key: K,
      stamp,
      kind: "weigh",
      weight,
    });
    // A drain on peer a and a weight on peer b at the same moment: both stand, on either order.
    const changes = [
      upsert(at(T0)),
      eject(at(T0 + 1), T0 + 30_000),
      drain(at(T0 + 2, 0, "a"), true),
      weigh(at(T0 + 2, 0, "b"), 5),
    ];
    for (const order of [changes, [...changes].reverse()]) {
      const table = build(order);
      expect(table.get(K)).toMatchObject({
        record: rec(),
        state: { kind: "ejected", until: T0 + 30_000 },
        draining: true,
        weight: 5,
        stamp: at(T0 + 2, 0, "b"),
      });
      expect(table.changesFor(K).map((c) => c.kind)).toEqual(["upsert", "eject", "drain", "weigh"]);
      expect(table.stateChange(K)?.kind).toBe("eject");
    }
    const table = build(changes);
    expect(table.apply(drain(at(T0 + 1), false))).toBe(false);
    expect(table.apply(drain(at(T0 + 3), false))).toBe(true);
    expect(table.apply(weigh(at(T0 + 3), null))).toBe(true);
    expect(table.get(K)).toMatchObject({
      draining: false,
      weight: null,
      state: { kind: "ejected" },
    });
  });

  it("keeps the record through an ejection and a readmission", () => {
    const table = build([upsert(at(T0)), eject(at(T0 + 1), T0 + 30_000)]);
    expect(table.get(K)).toMatchObject({
      record: rec(),
      state: { kind: "ejected", until: T0 + 30_000 },
      stamp: at(T0 + 1),
      recordStamp: at(T0),
    });
    table.apply(readmit(at(T0 + 2)));
    expect(table.get(K)).toMatchObject({ record: rec(), state: { kind: "active" } });
  });

  it("leaves a tombstone on removal that health changes cannot revive", () => {
    const table = build([upsert(at(T0)), remove(at(T0 + 1)), readmit(at(T0 + 2))]);
    expect(table.get(K)).toMatchObject({ record: null, state: { kind: "removed" } });
    table.apply(eject(at(T0 + 3), T0 + 10));
    expect(table.get(K)).toMatchObject({ record: null, state: { kind: "removed" } });
    table.apply(upsert(at(T0 + 4), rec("http://n1:9090")));
    expect(table.get(K)).toMatchObject({
      record: rec("http://n1:9090"),
      state: { kind: "active" },
    });
  });

  it("ignores stale and repeated changes", () => {
    const table = build([upsert(at(T0 + 5))]);
    expect(table.apply(upsert(at(T0 + 5)))).toBe(false);
    expect(table.apply(remove(at(T0 + 4)))).toBe(false);
    expect(table.apply(eject(at(T0 + 4), T0 + 99))).toBe(false);
    expect(table.get(K)).toMatchObject({ record: rec(), state: { kind: "active" } });
  });

  it("breaks stamp ties by origin", () => {
    const table = build([upsert(at(T0, 0, "b")), remove(at(T0, 0, "a"))]);
    expect(table.get(K)?.state).toEqual({ kind: "active" });
  });

  it("learns the record when an ejection overtook the registration", () => {
    const table = build([eject(at(T0 + 2), T0 + 50)]);
    expect(table.get(K)).toMatchObject({ record: undefined, recordStamp: undefined });
    expect(isRoutable(table.get(K)!, T0 + 100)).toBe(false);
    expect(table.apply(upsert(at(T0 + 1)))).toBe(true);
    expect(table.get(K)).toMatchObject({
      record: rec(),
      state: { kind: "ejected", until: T0 + 50 },
      stamp: at(T0 + 2),
      recordStamp: at(T0 + 1),
    });
  });

  it("stores only the fields a change of its kind carries", () => {
    const stray = { ...remove(at(T0)), record: rec(), until: 5, extra: true } as unknown as Change;
    const table = build([stray]);
    expect(table.changesFor(K)).toEqual([remove(at(T0))]);
  });

  it("yields the same table for any order of the same changes, with duplicates", () => {
    fc.assert(
      fc.property(
        fc.array(changeArb, { minLength: 1, maxLength: 30 }).chain((changes) =>
          fc.tuple(
            fc.constant(changes),
            fc.shuffledSubarray([...changes, ...changes, ...changes], {
              minLength: changes.length * 3,
            }),
          ),
        ),
        ([changes, replayed]) => {
          expect(build(replayed).entries()).toEqual(build(changes).entries());
        },
      ),
    );
  });

  it("reports a change as applied only when it altered the table", () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 30 }), (changes) => {
        const table = new RouteTable();
        for (const change of changes) {
          const before = JSON.stringify(table.since());
          expect(table.apply(change)).toBe(before !== JSON.stringify(table.since()));
          expect(table.apply(change)).toBe(false);
        }
      }),
    );
  });
});

describe("isRoutable", () => {
  it("routes active nodes and nodes whose ejection has run out", () => {
    const table = build([upsert(at(T0)), eject(at(T0 + 1), T0 + 100)]);
    expect(isRoutable(table.get(K)!, T0 + 99)).toBe(false);
    expect(isRoutable(table.get(K)!, T0 + 100)).toBe(true);
    table.apply(remove(at(T0 + 2)));
    expect(isRoutable(table.get(K)!, T0 + 200)).toBe(false);
  });
});

describe("RouteTable.since", () => {
  it("lists changes after a stamp in stamp order", () => {
    const table = build([
      upsert(at(T0 + 3), rec(), "echo/n2"),
      upsert(at(T0 + 1)),
      eject(at(T0 + 4), T0 + 9),
      remove(at(T0 + 2), "api/n1"),
    ]);
    expect(table.since().map((c) => c.stamp.wallMs)).toEqual([T0 + 1, T0 + 2, T0 + 3, T0 + 4]);
    expect(table.since(at(T0 + 2)).map((c) => [c.key, c.kind])).toEqual([
      ["echo/n2", "upsert"],
      ["echo/n1", "eject"],
    ]);
    expect(table.since(at(T0 + 4))).toEqual([]);
  });

  it("lists the successor of an overwritten change, not the change", () => {
    const table = build([upsert(at(T0 + 1)), upsert(at(T0 + 2), rec("http://n1:9"))]);
    expect(table.since()).toEqual([upsert(at(T0 + 2), rec("http://n1:9"))]);
  });

  it("filters by origin and pages by limit", () => {
    const table = build([
      upsert(at(T0 + 1, 0, "a"), rec(), "echo/n1"),
      upsert(at(T0 + 2, 0, "b"), rec(), "echo/n2"),
      upsert(at(T0 + 3, 0, "a"), rec(), "echo/n3"),
      upsert(at(T0 + 4, 0, "a"), rec(), "echo/n4"),
    ]);
    expect(table.since(undefined, { origin: "a" }).map((c) => c.key)).toEqual([
      "echo/n1",
      "echo/n3",
      "echo/n4",
    ]);
    expect(table.since(undefined, { origin: "a", limit: 2 }).map((c) => c.key)).toEqual([
      "echo/n1",
      "echo/n3",
    ]);
    expect(table.since(at(T0 + 3, 0, "a"), { origin: "a", limit: 2 }).map((c) => c.key)).toEqual([
      "echo/n4",
    ]);
    expect(table.since(undefined, { limit: 0 })).toEqual([]);
  });

  it("never splits changes that share a stamp across pages", () => {
    const shared = at(T0 + 2);
    const table = build([
      upsert(at(T0 + 1), rec(), "echo/n1"),
      upsert(shared, rec(), "echo/n2"),
      upsert(shared, rec(), "echo/n3"),
      upsert(at(T0 + 3), rec(), "echo/n4"),
    ]);
    expect(table.since(undefined, { limit: 2 }).map((c) => c.key)).toEqual([
      "echo/n1",
      "echo/n2",
      "echo/n3",
    ]);
  });

  it("rebuilds an equal table from nothing, and pages through everything", () => {
    fc.assert(
      fc.property(
        fc.array(changeArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        (changes, limit) => {
          const table = build(changes);
          expect(build(table.since()).entries()).toEqual(table.entries());

          const paged = new RouteTable();
          let cursor: Stamp | undefined;
          for (let page = table.since(cursor, { limit }); page.length > 0; ) {
            paged.applyAll(page);
            cursor = page.at(-1)!.stamp;
            page = table.since(cursor, { limit });
          }
          expect(paged.entries()).toEqual(table.entries());
        },
      ),
    );
  });
});
