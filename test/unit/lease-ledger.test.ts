import { describe, expect, it } from "vitest";
import { gatePathReserve, LeaseLedger } from "../../src/balancer/lease-ledger.ts";
import { type LeaseAnswer, LeaseSlots } from "../../src/balancer/lease-slots.ts";

describe("LeaseLedger", () => {
  const terms = { limit: 16, ttlMs: 1_000 };

  it("never leases a limit of 1: such a node stays serialized in its gate", () => {
    const ledger = new LeaseLedger();
    expect(ledger.grant("a", 5, 0, { limit: 1, ttlMs: 1_000 }, 0).slots).toBe(0);
  });

  it("keeps a reserve for the gate path and shares the rest among those asking", () => {
    const ledger = new LeaseLedger();
    expect(gatePathReserve(16)).toBe(2);
    expect(ledger.grant("a", 100, 0, terms, 0).slots).toBe(14);
    // b asks while a holds everything leasable: nothing is free until a's grant shrinks or ends.
    expect(ledger.grant("b", 100, 0, terms, 10).slots).toBe(0);
    // a renews and is cut to its share, but its bigger grant counts until it ends.
    expect(ledger.grant("a", 100, 0, terms, 500).slots).toBe(7);
    expect(ledger.outstanding(500)).toBe(14);
    expect(ledger.grant("b", 100, 0, terms, 1_001).slots).toBe(7);
    expect(ledger.outstanding(1_001)).toBe(14);
  });

  it("counts the gate's own handshakes before granting", () => {
    const ledger = new LeaseLedger();
    expect(ledger.grant("a", 100, 12, terms, 0).slots).toBe(4);
  });

  it("grants what is wanted when that is less than the share", () => {
    const ledger = new LeaseLedger();
    expect(ledger.grant("a", 3, 0, terms, 0).slots).toBe(3);
    expect(ledger.outstanding(999)).toBe(3);
    expect(ledger.outstanding(1_000)).toBe(0);
  });

  it("forgets a holder one TTL after its last grant and its last call", () => {
    const ledger = new LeaseLedger();
    ledger.grant("a", 3, 0, terms, 0);
    expect(ledger.prune(999, terms.ttlMs).size).toBe(0);
    expect([...ledger.prune(1_000, terms.ttlMs)]).toEqual([["a", undefined]]);
    expect(ledger.get("a")).toBeUndefined();
  });

  it("numbers its answers to each holder so a late one can be told apart", () => {
    const ledger = new LeaseLedger();
    const first = ledger.grant("a", 3, 0, terms, 0).record.generation;
    expect(ledger.grant("a", 3, 0, terms, 1).record.generation).toBe(first + 1);
  });
});

describe("LeaseSlots", () => {
  const answer = (slots: number, generation: number): LeaseAnswer => ({
    slots,
    ttlMs: 1_000,
    generation,
  });

  it("takes no slot that the grant would not outlast", () => {
    const slots = new LeaseSlots();
    slots.endCall(answer(2, 1), 0);
    expect(slots.tryTake(0, 600)).toBe(true);
    expect(slots.tryTake(500, 600)).toBe(false);
    expect(slots.tryTake(400, 600)).toBe(true);
    expect(slots.tryTake(0, 10)).toBe(false); // both in use
  });

  it("drops an answer older than one already applied", () => {
    const slots = new LeaseSlots();
    slots.apply(answer(5, 2), 0);
    slots.apply(answer(1, 1), 10);
    expect(slots.slots).toBe(5);
  });

  it("asks for a first lease once used, renews before the grant gets too short, lets an idle one lapse", () => {
    const slots = new LeaseSlots();
    expect(slots.due(0, 1_000, 200)).toBeUndefined();
    slots.tryTake(0, 200);
    expect(slots.due(0, 1_000, 200)).toBe("first");
    slots.beginCall(0, 64);
    expect(slots.due(0, 1_000, 200)).toBeUndefined(); // one call at a time
    slots.endCall(answer(4, 1), 0);
    expect(slots.due(300, 1_000, 200)).toBeUndefined(); // not used since the call
    expect(slots.tryTake(300, 200)).toBe(true);
    expect(slots.due(399, 1_000, 200)).toBeUndefined();
    expect(slots.due(400, 1_000, 200)).toBe("renew");
  });

  it("asks early for more when every slot was busy, and wants its peak with headroom", () => {
    const slots = new LeaseSlots();
    slots.beginCall(0, 64);
    slots.endCall(answer(1, 1), 0);
    slots.enter();
    slots.enter();
    expect(slots.tryTake(0, 100)).toBe(true);
    expect(slots.tryTake(0, 100)).toBe(false);
    expect(slots.due(100, 1_000, 100)).toBeUndefined();
    expect(slots.due(250, 1_000, 100)).toBe("short");
    expect(slots.want(64)).toBe(4);
    expect(slots.want(2)).toBe(2);
  });

  it("reports successes once, with their latency", () => {
    const slots = new LeaseSlots();
    slots.endCall(answer(2, 1), 0);
    slots.tryTake(0, 10);
    slots.give({ latencyMs: 7 });
    slots.recordSuccess(3);
    expect(slots.beginReport()).toEqual({
      successes: 2,
      latency: { count: 2, sumMs: 10, maxMs: 7 },
    });
    expect(slots.beginReport().successes).toBe(0);
  });
});
