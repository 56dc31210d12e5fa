import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareStamps, HybridClock, type Stamp } from "../../src/sync/hlc.ts";
import { MAX_BATCH, PeerQueue } from "../../src/sync/peer-queue.ts";
import { type Change, RouteTable } from "../../src/sync/route-table.ts";

const T0 = 1_700_000_000_000;

/** A gateway "a" with its table, clock and queue; time is advanced by hand. */
function gateway(random: () => number = () => 0) {
  const clock = new HybridClock("a");
  const table = new RouteTable();
  const queue = new PeerQueue({
    source: (after, limit) => table.since(after, { origin: "a", limit }),
    random,
  });
  let now = T0;
  return {
    table,
    queue,
    get now() {
      return now;
    },
    set now(value: number) {
      now = value;
    },
    register(node: string) {
      const change: Change = {
        key: `echo/${node}`,
        stamp: clock.tick(now),
        kind: "upsert",
        record: { url: `http://${node}:80`, weight: 1 },
      };
      table.apply(change);
      return change;
    },
    local(key: string, kind: Change["kind"]) {
      const stamp = clock.tick(now);
      const change: Change =
        kind === "upsert"
          ? { key, stamp, kind, record: { url: "http://n:80", weight: 1 } }
          : kind === "eject"
            ? { key, stamp, kind, until: now + 30_000 }
            : { key, stamp, kind: kind as "remove" | "readmit" };
      table.apply(change);
      return change;
    },
  };
}

const stampsOf = (changes: readonly Change[]) => changes.map((c) => c.stamp);
const strictlyAscending = (stamps: readonly Stamp[]) =>
  stamps.every((s, i) => i === 0 || compareStamps(stamps[i - 1]!, s) < 0);

describe("PeerQueue batches", () => {
  it("hands out the same batch until it is acknowledged, then the next", () => {
    const gw = gateway();
    gw.queue.addPeer("b");
    const made = ["n1", "n2", "n3", "n4", "n5"].map((n) => gw.register(n));

    const first = gw.queue.nextBatch("b", 2);
    expect(first).toEqual(made.slice(0, 2));
    expect(gw.queue.nextBatch("b", 2)).toEqual(first);

    gw.queue.ack("b", first.at(-1)!.stamp, gw.now);
    expect(gw.queue.nextBatch("b", 10)).toEqual(made.slice(2));
    gw.queue.ack("b", made[4]!.stamp, gw.now);
    expect(gw.queue.nextBatch("b", 10)).toEqual([]);
    expect(gw.queue.hasPending("b")).toBe(false);
  });

  it("never moves a cursor back on a late or duplicate ack", () => {
    const gw = gateway();
    gw.queue.addPeer("b");
    const made = ["n1", "n2", "n3"].map((n) => gw.register(n));
    gw.queue.ack("b", made[2]!.stamp, gw.now);
    gw.queue.ack("b", made[0]!.stamp, gw.now);
    expect(gw.queue.nextBatch("b", 10)).toEqual([]);
    expect(gw.queue.status("b", gw.now).cursor).toEqual(made[2]!.stamp);
  });

  it("bounds a batch by the asked size and by MAX_BATCH", () => {
    const gw = gateway();
    gw.queue.addPeer("b");
    for (let i = 0; i < MAX_BATCH + 10; i++) gw.register(`n${i}`);
    expect(gw.queue.nextBatch("b", 0)).toEqual([]);
    expect(gw.queue.nextBatch("b", 7)).toHaveLength(7);
    expect(gw.queue.nextBatch("b", 10_000)).toHaveLength(MAX_BATCH);
  });

  it("sends only this gateway's own changes", () => {
    const gw = gateway();
    gw.queue.addPeer("b");
    gw.table.apply({
      key: "echo/remote",
      stamp: { wallMs: T0, counter: 0, origin: "c" },
      kind: "remove",
    });
    const own = gw.register("n1");
    expect(gw.queue.nextBatch("b", 10)).toEqual([own]);
  });

  it("refuses unknown peers", () => {
    const gw = gateway();
    expect(() => gw.queue.nextBatch("ghost", 1)).toThrow(RangeError);
    gw.queue.addPeer("b");
    gw.queue.removePeer("b");
    expect(gw.queue.peers()).toEqual([]);
  });
});

describe("PeerQueue backoff", () => {
  it("backs off a failing peer 1 s, 2 s, 4 s … up to 5 minutes, and resets on success", () => {
    const gw = gateway(() => 0);
    gw.queue.addPeer("b");
    gw.register("n1");
    expect(gw.queue.nextAttemptAt("b", gw.now)).toBe(gw.now);

    const waits: number[] = [];
    for (let round = 0; round < 12; round++) {
      gw.queue.fail("b", "timeout", gw.now);
      const next = gw.queue.nextAttemptAt("b", gw.now);
      waits.push(next - gw.now);
      expect(gw.queue.due(next - 1)).toEqual([]);
      expect(gw.queue.due(next)).toEqual(["b"]);
      gw.now = next;
    }
    expect(waits).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000,
      300_000,
    ]);

    gw.queue.ack("b", gw.queue.nextBatch("b", 10).at(-1)!.stamp, gw.now);
    gw.queue.fail("b", "503", gw.now);
    expect(gw.queue.nextAttemptAt("b", gw.now) - gw.now).toBe(1_000);
  });

  it("shortens waits by up to the jitter share, never past the cap", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 30 }),
        (r, failures) => {
          const gw = gateway(() => r);
          gw.queue.addPeer("b");
          for (let i = 0; i < failures; i++) gw.queue.fail("b", "x", gw.now);
          const wait = gw.queue.nextAttemptAt("b", gw.now) - gw.now;
          const full = Math.min(300_000, 1_000 * 2 ** (failures - 1));
          expect(wait).toBeGreaterThanOrEqual(Math.floor(full * 0.8));
          expect(wait).toBeLessThanOrEqual(full);
        },
      ),
    );
  });

  it("wakes for the earliest due peer with pending changes", () => {
    const gw = gateway(() => 0);
    gw.queue.addPeer("b");
    gw.queue.addPeer("c");
    expect(gw.queue.nextWakeAt(gw.now)).toBeUndefined();
    gw.register("n1");
    gw.queue.fail("b", "x", gw.now);
    gw.queue.fail("c", "x", gw.now);
    gw.queue.fail("c", "x", gw.now);
    expect(gw.queue.nextWakeAt(gw.now)).toBe(gw.now + 1_000);
    expect(gw.queue.due(gw.now + 1_000)).toEqual(["b"]);
    expect(gw.queue.due(gw.now + 2_000)).toEqual(["b", "c"]);
  });
});

describe("PeerQueue delivery", () => {
  it("delivers every change, in stamp order, exactly once, to a peer that was away for many rounds", () => {
    const gw = gateway(() => 0.5);
    gw.queue.addPeer("b");
    const peer = new RouteTable();
    const received: Change[] = [];
    const made: Change[] = [];
    const failedRounds: number[] = [];

    // 40 alarm rounds one second apart; the peer is down for the first 30; changes keep coming.
    for (let round = 0; round < 40; round++) {
      gw.now = T0 + round * 1_000;
      made.push(gw.register(`n${round}`));
      const peerUp = round >= 30;
      for (const p of gw.queue.due(gw.now)) {
        if (!peerUp) {
          failedRounds.push(round);
          gw.queue.fail(p, "connect ECONNREFUSED", gw.now);
          continue;
        }
        for (let batch = gw.queue.nextBatch(p, 4); batch.length > 0; ) {
          peer.applyAll(batch);
          received.push(...batch);
          gw.queue.ack(p, batch.at(-1)!.stamp, gw.now);
          batch = gw.queue.nextBatch(p, 4);
        }
      }
    }
    // Waits of 0.9, 1.8, 3.6, 7.2, 14.4 s: five tries over a 30-round outage, not thirty.
    expect(failedRounds).toEqual([0, 1, 3, 7, 15]);
    expect(received).toEqual(made);
    expect(strictlyAscending(stampsOf(received))).toBe(true);
    expect(peer.entries()).toEqual(gw.table.entries());
    expect(gw.queue.status("b", gw.now)).toMatchObject({
      pending: 0,
      failures: 0,
      lastSyncedAt: T0 + 39_000,
      lastError: { message: "connect ECONNREFUSED" },
    });
  });

  it("converges whatever the mix of changes, refusals and lost responses", () => {
    const op = fc.oneof(
      fc.record({
        op: fc.constant("change" as const),
        key: fc.constantFrom("echo/n1", "echo/n2", "api/n1"),
        kind: fc.constantFrom("upsert", "remove", "eject", "readmit"),
      }),
      fc.record({
        op: fc.constant("alarm" as const),
        outcome: fc.constantFrom("ok", "refused", "lost"),
      }),
      fc.record({ op: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const gw = gateway(Math.random);
        gw.queue.addPeer("b");
        const peer = new RouteTable();
        let acked: Stamp | undefined;

        const attempt = (outcome: string) => {
          if (!gw.queue.due(gw.now).includes("b")) return;
          const batch = gw.queue.nextBatch("b", 2);
          expect(strictlyAscending(stampsOf(batch))).toBe(true);
          if (acked) for (const c of batch) expect(compareStamps(c.stamp, acked)).toBe(1);
          if (outcome !== "refused") peer.applyAll(batch);
          if (outcome === "ok") {
            acked = batch.at(-1)!.stamp;
            gw.queue.ack("b", acked, gw.now);
          } else {
            gw.queue.fail("b", outcome, gw.now);
          }
        };

        for (const step of ops) {
          if (step.op === "change") gw.local(step.key, step.kind);
          else if (step.op === "wait") gw.now += step.ms;
          else attempt(step.outcome);
        }
        for (let i = 0; i < 100 && gw.queue.hasPending("b"); i++) {
          gw.now = gw.queue.nextAttemptAt("b", gw.now);
          attempt("ok");
        }
        expect(gw.queue.hasPending("b")).toBe(false);
        expect(peer.entries()).toEqual(gw.table.entries());
      }),
    );
  });
});

describe("PeerQueue bookkeeping", () => {
  it("knows which stamps every peer has acknowledged", () => {
    const gw = gateway();
    const [s1, s2] = [gw.register("n1").stamp, gw.register("n2").stamp];
    expect(gw.queue.ackedByAll(s1)).toBe(true);
    gw.queue.addPeer("b");
    gw.queue.addPeer("c");
    expect(gw.queue.ackedByAll(s1)).toBe(false);
    gw.queue.ack("b", s2, gw.now);
    gw.queue.ack("c", s1, gw.now);
    expect(gw.queue.ackedByAll(s1)).toBe(true);
    expect(gw.queue.ackedByAll(s2)).toBe(false);
    gw.queue.removePeer("c");
    expect(gw.queue.ackedByAll(s2)).toBe(true);
  });

  it("reports status for the API", () => {
    const gw = gateway(() => 0);
    gw.queue.addPeer("b");
    gw.register("n1");
    const s2 = gw.register("n2").stamp;
    gw.register("n3");
    expect(gw.queue.status("b", gw.now)).toEqual({
      peer: "b",
      pending: 3,
      cursor: undefined,
      lastSyncedAt: undefined,
      lastError: undefined,
      failures: 0,
      nextAttemptAt: gw.now,
    });
    gw.queue.ack("b", s2, T0 + 5);
    gw.queue.fail("b", "HTTP 503", T0 + 10);
    expect(gw.queue.status("b", T0 + 10)).toEqual({
      peer: "b",
      pending: 1,
      cursor: s2,
      lastSyncedAt: T0 + 5,
      lastError: { message: "HTTP 503", at: T0 + 10 },
      failures: 1,
      nextAttemptAt: T0 + 1_010,
    });
  });

  it("survives a restart through toJSON / fromJSON", () => {
    const gw = gateway(() => 0);
    gw.queue.addPeer("b");
    gw.queue.addPeer("c");
    gw.register("n1");
    const s2 = gw.register("n2").stamp;
    gw.queue.ack("b", s2, T0 + 1);
    gw.queue.fail("c", "timeout", T0 + 2);
    const saved = JSON.parse(JSON.stringify(gw.queue.toJSON()));
    const restored = PeerQueue.fromJSON(saved, {
      source: (after, limit) => gw.table.since(after, { origin: "a", limit }),
    });
    expect(restored.peers()).toEqual(["b", "c"]);
    for (const peer of ["b", "c"]) {
      expect(restored.status(peer, T0 + 3)).toEqual(gw.queue.status(peer, T0 + 3));
    }
  });
});
