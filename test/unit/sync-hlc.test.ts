import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ClockDriftError,
  compareStamps,
  decodeStamp,
  encodeStamp,
  HybridClock,
  MAX_COUNTER,
  MAX_WALL_MS,
  maxStamp,
  type Stamp,
} from "../../src/sync/hlc.ts";

const T0 = 1_700_000_000_000;

const stampArb: fc.Arbitrary<Stamp> = fc.record({
  wallMs: fc.oneof(fc.integer({ min: 0, max: MAX_WALL_MS }), fc.integer({ min: T0, max: T0 + 5 })),
  counter: fc.oneof(fc.integer({ min: 0, max: MAX_COUNTER }), fc.integer({ min: 0, max: 3 })),
  origin: fc.oneof(
    fc.constantFrom("a", "b", "ab", "gw-eu", "gw-us"),
    fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
  ),
});

describe("compareStamps", () => {
  it("orders by wall time, then counter, then origin", () => {
    const s = (wallMs: number, counter: number, origin: string) => ({ wallMs, counter, origin });
    expect(compareStamps(s(1, 9, "z"), s(2, 0, "a"))).toBe(-1);
    expect(compareStamps(s(2, 1, "a"), s(2, 0, "z"))).toBe(1);
    expect(compareStamps(s(2, 1, "a"), s(2, 1, "b"))).toBe(-1);
    expect(compareStamps(s(2, 1, "a"), s(2, 1, "a"))).toBe(0);
    expect(maxStamp(s(2, 1, "a"), s(2, 1, "b"))).toEqual(s(2, 1, "b"));
  });

  it("is a total order", () => {
    fc.assert(
      fc.property(stampArb, stampArb, stampArb, (a, b, c) => {
        expect(Math.sign(compareStamps(a, b))).toBe(-Math.sign(compareStamps(b, a)));
        expect(compareStamps(a, b) === 0).toBe(
          a.wallMs === b.wallMs && a.counter === b.counter && a.origin === b.origin,
        );
        if (compareStamps(a, b) <= 0 && compareStamps(b, c) <= 0) {
          expect(compareStamps(a, c)).toBeLessThanOrEqual(0);
        }
      }),
    );
  });
});

describe("encodeStamp / decodeStamp", () => {
  it("is compact and readable", () => {
    expect(encodeStamp({ wallMs: T0, counter: 3, origin: "gw-eu" })).toBe("00loyw3v280003-gw-eu");
  });

  it("round-trips", () => {
    fc.assert(
      fc.property(stampArb, (s) => {
        expect(decodeStamp(encodeStamp(s))).toEqual(s);
      }),
    );
  });

  it("sorts as strings exactly as compareStamps orders", () => {
    fc.assert(
      fc.property(stampArb, stampArb, (a, b) => {
        const ea = encodeStamp(a);
        const eb = encodeStamp(b);
        expect(Math.sign(compareStamps(a, b))).toBe(ea === eb ? 0 : ea < eb ? -1 : 1);
      }),
    );
  });

  it.each([
    "",
    "00loyw3v280003",
    "00loyw3v280003-",
    "00LOYW3V280003-a",
    "0loyw3v280003-a",
    "00loyw3v280003-a b",
    `00loyw3v280003-${"x".repeat(65)}`,
  ])("rejects %j", (text) => {
    expect(decodeStamp(text)).toBeUndefined();
  });

  it("refuses to encode what it cannot decode", () => {
    expect(() => encodeStamp({ wallMs: -1, counter: 0, origin: "a" })).toThrow(RangeError);
    expect(() => encodeStamp({ wallMs: 1.5, counter: 0, origin: "a" })).toThrow(RangeError);
    expect(() => encodeStamp({ wallMs: 1, counter: MAX_COUNTER + 1, origin: "a" })).toThrow();
    expect(() => encodeStamp({ wallMs: 1, counter: 0, origin: "" })).toThrow(RangeError);
  });
});

describe("HybridClock", () => {
  it("follows physical time while it moves forward", () => {
    const clock = new HybridClock("a");
    expect(clock.tick(T0)).toEqual({ wallMs: T0, counter: 0, origin: "a" });
    expect(clock.tick(T0)).toEqual({ wallMs: T0, counter: 1, origin: "a" });
    expect(clock.tick(T0 + 5)).toEqual({ wallMs: T0 + 5, counter: 0, origin: "a" });
  });

  it("stays monotonic when physical time goes back", () => {
    const clock = new HybridClock("a");
    clock.tick(T0 + 1_000);
    expect(clock.tick(T0)).toEqual({ wallMs: T0 + 1_000, counter: 1, origin: "a" });
  });

  it("issues strictly increasing stamps for any sequence of clock readings", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: T0 - 10, max: T0 + 10 }), { maxLength: 50 }),
        (nows) => {
          const clock = new HybridClock("a");
          let previous = clock.last;
          for (const now of nows) {
            const next = clock.tick(now);
            expect(compareStamps(next, previous)).toBe(1);
            expect(next.wallMs).toBeGreaterThanOrEqual(now);
            previous = next;
          }
        },
      ),
    );
  });

  it("orders every later local stamp after a received one", () => {
    const a = new HybridClock("a");
    const b = new HybridClock("b");
    const sent = a.tick(T0 + 30_000);
    const merged = b.receive(sent, T0);
    expect(merged).toEqual({ wallMs: T0 + 30_000, counter: 1, origin: "b" });
    expect(compareStamps(b.tick(T0 + 1), sent)).toBe(1);
  });

  it("merges counters when all three wall times agree", () => {
    const clock = new HybridClock("b", { last: { wallMs: T0, counter: 4, origin: "b" } });
    expect(clock.receive({ wallMs: T0, counter: 7, origin: "a" }, T0).counter).toBe(8);
    expect(clock.receive({ wallMs: T0, counter: 2, origin: "a" }, T0).counter).toBe(9);
    expect(clock.receive({ wallMs: T0 - 5, counter: 2, origin: "a" }, T0 + 1)).toEqual({
      wallMs: T0 + 1,
      counter: 0,
      origin: "b",
    });
  });

  it("keeps causality across any exchange between two clocks", () => {
    const step = fc.record({
      from: fc.constantFrom(0, 1),
      send: fc.boolean(),
      skew: fc.integer({ min: -2_000, max: 2_000 }),
      advance: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const clocks = [new HybridClock("a"), new HybridClock("b")];
        let now = T0;
        for (const { from, send, skew, advance } of steps) {
          now += advance;
          const sender = clocks[from]!;
          const event = sender.tick(now + skew);
          if (send) {
            const received = clocks[1 - from]!.receive(event, now);
            expect(compareStamps(received, event)).toBe(1);
          }
        }
      }),
    );
  });

  it("accepts a peer ahead by exactly the tolerance and refuses one further ahead", () => {
    const clock = new HybridClock("b", { maxDriftMs: 1_000 });
    const ahead = { wallMs: T0 + 1_000, counter: 0, origin: "a" };
    expect(clock.receive(ahead, T0).wallMs).toBe(T0 + 1_000);

    const fresh = new HybridClock("b", { maxDriftMs: 1_000 });
    fresh.tick(T0);
    const before = fresh.last;
    const tooFar = { wallMs: T0 + 1_001, counter: 0, origin: "a" };
    let caught: unknown;
    try {
      fresh.receive(tooFar, T0);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ClockDriftError);
    expect(caught).toMatchObject({ remote: tooFar, driftMs: 1_001, maxDriftMs: 1_000 });
    expect(fresh.last).toBe(before);
  });

  it("defaults to a minute of tolerated drift", () => {
    const clock = new HybridClock("b");
    expect(() => clock.receive({ wallMs: T0 + 60_000, counter: 0, origin: "a" }, T0)).not.toThrow();
    expect(() => clock.receive({ wallMs: T0 + 60_001, counter: 0, origin: "a" }, T0)).toThrow(
      ClockDriftError,
    );
  });

  it("borrows the next millisecond when the counter is exhausted", () => {
    const clock = new HybridClock("a", { last: { wallMs: T0, counter: MAX_COUNTER, origin: "a" } });
    expect(clock.tick(T0)).toEqual({ wallMs: T0 + 1, counter: 0, origin: "a" });
    expect(clock.tick(T0)).toEqual({ wallMs: T0 + 1, counter: 1, origin: "a" });
  });

  it("resumes after a restart from its last stamp even if physical time went back", () => {
    const first = new HybridClock("a");
    const issued = first.tick(T0 + 500);
    const resumed = new HybridClock("a", { last: first.last });
    expect(compareStamps(resumed.tick(T0), issued)).toBe(1);
  });

  it("rejects an origin id the encoding cannot carry", () => {
    expect(() => new HybridClock("")).toThrow(RangeError);
    expect(() => new HybridClock("has space")).toThrow(RangeError);
    expect(() => new HybridClock("x".repeat(65))).toThrow(RangeError);
  });
});
