import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GateQueue } from "../../src/balancer/gate-queue.ts";

describe("GateQueue", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("admits up to the limit and queues the rest in arrival order", async () => {
    const gate = new GateQueue(2);
    const order: number[] = [];
    const acquisitions = [1, 2, 3, 4].map((n) =>
      gate.acquire(1_000).then((ok) => ok && order.push(n)),
    );
    await Promise.resolve();
    expect(gate.inFlight).toBe(2);
    expect(gate.queued).toBe(2);
    gate.release();
    gate.release();
    await Promise.all(acquisitions);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(gate.peak).toBe(2);
  });

  it("gives up on a waiter when its deadline passes, without taking a slot", async () => {
    const gate = new GateQueue(1);
    await gate.acquire(10);
    const waiting = gate.acquire(50);
    vi.advanceTimersByTime(50);
    expect(await waiting).toBe(false);
    expect(gate.queued).toBe(0);
    gate.release();
    expect(gate.inFlight).toBe(0);
  });

  it("does not let a newcomer overtake a waiter", async () => {
    const gate = new GateQueue(1);
    await gate.acquire(10);
    const first = gate.acquire(100);
    gate.release();
    const second = gate.acquire(0);
    expect(await first).toBe(true);
    expect(await second).toBe(false);
  });

  it("admits waiters at once when the limit grows", async () => {
    const gate = new GateQueue(1);
    await gate.acquire(10);
    const waiting = gate.acquire(100);
    gate.setLimit(2);
    expect(await waiting).toBe(true);
    expect(gate.inFlight).toBe(2);
  });
});
