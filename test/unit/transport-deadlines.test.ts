import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Deadlines } from "../../src/transport/deadlines.ts";
import { body, open, tick } from "./fake-link.ts";

interface Entry {
  id: number;
  deadline: number;
  settled: boolean;
}

const entry = (id: number, inMs: number): Entry => ({
  id,
  deadline: performance.now() + inMs,
  settled: false,
});

describe("Deadlines", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires each unsettled entry once, at its deadline, in deadline then id order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ inMs: fc.integer({ min: 1, max: 50 }), settle: fc.boolean() }), {
          maxLength: 60,
        }),
        (specs) => {
          const expired: number[] = [];
          const deadlines = new Deadlines<Entry>((e) => {
            expect(performance.now()).toBeGreaterThanOrEqual(e.deadline);
            expired.push(e.id);
          });
          const entries = specs.map((spec, id) => entry(id, spec.inMs));
          for (const e of entries) deadlines.add(e);
          specs.forEach((spec, id) => {
            if (spec.settle) (entries[id] as Entry).settled = true;
          });
          vi.advanceTimersByTime(50);
          const due = entries
            .filter((e) => !e.settled)
            .sort((a, b) => a.deadline - b.deadline || a.id - b.id)
            .map((e) => e.id);
          expect(expired).toEqual(due);
          expect(vi.getTimerCount()).toBe(0);
          deadlines.clear();
        },
      ),
    );
  });

  it("runs one timer for any number of entries, re-armed only for an earlier deadline", () => {
    const expired: number[] = [];
    const deadlines = new Deadlines<Entry>((e) => expired.push(e.id));
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    for (let id = 1; id <= 500; id++) deadlines.add(entry(id, 1_000));
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    deadlines.add(entry(501, 10));
    expect(setTimeoutSpy).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([501]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(990);
    expect(expired).toHaveLength(501);
    expect(vi.getTimerCount()).toBe(0);
    setTimeoutSpy.mockRestore();
  });

  it("drops settled entries, so the heap stays within four times the live ones", () => {
    const expired: number[] = [];
    const deadlines = new Deadlines<Entry>((e) => expired.push(e.id));
    const live: Entry[] = [];
    for (let id = 1; id <= 20_000; id++) {
      const e = entry(id, 1_000);
      deadlines.add(e);
      // Settled in the order they were added, as results mostly come back.
      if (id % 100 === 0) live.push(e);
      else e.settled = true;
      expect(deadlines.size).toBeLessThanOrEqual(Math.max(1024, 4 * live.length) + 1);
    }
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual(live.map((e) => e.id));
  });

  it("keeps every live entry as the heap grows with few settled ones", () => {
    const expired: number[] = [];
    const deadlines = new Deadlines<Entry>((e) => expired.push(e.id));
    const live: number[] = [];
    for (let id = 1; id <= 10_000; id++) {
      const e = entry(id, 1_000 - (id % 7));
      deadlines.add(e);
      if (id % 3 === 0) e.settled = true;
      else live.push(id);
    }
    vi.advanceTimersByTime(1_000);
    expect(expired.sort((a, b) => a - b)).toEqual(live);
  });

  it("clear() stops the timer and forgets the entries", () => {
    const expire = vi.fn();
    const deadlines = new Deadlines<Entry>(expire);
    deadlines.add(entry(1, 10));
    deadlines.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(expire).not.toHaveBeenCalled();
    expect(deadlines.size).toBe(0);
  });
});

describe("a stream's deadlines", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("cost one timer however many invocations are outstanding", async () => {
    vi.useFakeTimers();
    const { node, stream } = open();
    await node.accept();
    await tick();
    const before = vi.getTimerCount();
    const calls = Array.from({ length: 300 }, () =>
      stream.invoke({ body }, { deadlineMs: 1_000 }).catch((error: unknown) => error),
    );
    await tick();
    expect(vi.getTimerCount()).toBe(before + 1);
    await vi.advanceTimersByTimeAsync(1_000);
    const errors = await Promise.all(calls);
    expect(errors.every((e) => e instanceof Error && e.name === "DeadlineError")).toBe(true);
    expect(stream.stats()).toMatchObject({ deadlines: 300 });
    stream.close();
  });
});
