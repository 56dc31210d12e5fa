import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  gatePathReserve,
  type HolderRecord,
  heldSlots,
  LeaseLedger,
} from "../../src/balancer/lease-ledger.ts";
import { type LeaseAnswer, LeaseSlots } from "../../src/balancer/lease-slots.ts";

// A discrete-event model of one gate and several isolates: lease calls travel with delays, grants
// are applied when their answer arrives, handshakes last up to their hold time, isolates die and
// new ones start, and the gate restarts from its persisted records. The node counts every
// handshake in progress, on either path.

interface Isolate {
  holder: string;
  slots: LeaseSlots;
  alive: boolean;
  firstAskAt?: number;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

class Model {
  now = 0;
  readonly isolates: Isolate[] = [];
  ledger = new LeaseLedger();
  gateInFlight = 0;
  leaseInFlight = 0;
  peak = 0;
  #events: Event[] = [];
  #seq = 0;
  #gateHandshakes = new Set<number>();
  #serial = 0;

  readonly limit: number;
  readonly ttlMs: number;
  readonly holdMs: number;

  constructor(limit: number, ttlMs: number, holdMs: number) {
    this.limit = limit;
    this.ttlMs = ttlMs;
    this.holdMs = holdMs;
  }

  spawn(): Isolate {
    const isolate = { holder: `iso-${++this.#serial}`, slots: new LeaseSlots(), alive: true };
    this.isolates.push(isolate);
    return isolate;
  }

  at(at: number, run: () => void): void {
    // Kept in time order by insertion after the last event due no later: equal times run in the
    // order they were scheduled.
    let low = 0;
    let high = this.#events.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.#events[mid] as Event).at <= at) low = mid + 1;
      else high = mid;
    }
    this.#events.splice(low, 0, { at, seq: this.#seq++, run });
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (let next = this.#events[0]; next && next.at <= until; next = this.#events[0]) {
      this.#events.shift();
      this.now = next.at;
      next.run();
      this.check();
    }
    this.now = until;
    this.check();
  }

  /** One lease call from `isolate`, sent now, processed and answered after the given delays. */
  call(isolate: Isolate, toGateMs: number, backMs: number): void {
    const sentAt = this.now;
    const { want } = isolate.slots.beginCall(sentAt, this.limit);
    isolate.firstAskAt ??= sentAt;
    this.at(sentAt + toGateMs, () => {
      const terms = { limit: this.limit, ttlMs: this.ttlMs };
      const { record, slots } = this.ledger.grant(
        isolate.holder,
        want,
        this.gateInFlight,
        terms,
        this.now,
      );
      const answer: LeaseAnswer = { slots, ttlMs: this.ttlMs, generation: record.generation };
      this.at(this.now + backMs, () => {
        if (isolate.alive) isolate.slots.endCall(answer, sentAt);
      });
    });
  }

  /** A dispatch from `isolate` holding its slot for `durationMs` (at most the hold time). */
  dispatch(isolate: Isolate, durationMs: number, toGateMs: number, backMs: number): void {
    if (!isolate.alive) return;
    const slots = isolate.slots;
    slots.enter();
    if (slots.due(this.now, this.ttlMs, this.holdMs)) this.call(isolate, toGateMs, backMs);
    const ends = this.now + Math.min(durationMs, this.holdMs);
    if (slots.tryTake(this.now, this.holdMs)) {
      this.leaseInFlight++;
      this.at(ends, () => {
        this.leaseInFlight--;
        slots.give({ latencyMs: durationMs });
        slots.leave();
      });
      return;
    }
    // The gate path: admitted while the gate's own share of the limit has room (a real gate would
    // queue the rest in FIFO order; the model only needs to know whether it has room).
    const own = this.limit - this.ledger.outstanding(this.now);
    if (this.gateInFlight >= own) {
      slots.leave();
      return;
    }
    const id = this.#seq++;
    this.gateInFlight++;
    this.#gateHandshakes.add(id);
    this.at(ends, () => {
      if (this.#gateHandshakes.delete(id)) this.gateInFlight--;
      slots.leave();
    });
  }

  /** The gate object restarts: its own handshakes die with it, its grants come back from storage. */
  restart(): void {
    const persisted = JSON.parse(JSON.stringify([...this.ledger.entries()])) as [
      string,
      HolderRecord,
    ][];
    this.ledger = new LeaseLedger(persisted);
    this.gateInFlight = 0;
    this.#gateHandshakes.clear();
  }

  /** Plays one generated step; `keepOneAlive` spares the last live isolate. */
  play(s: Step, keepOneAlive = false): void {
    const live = this.isolates.filter((i) => i.alive);
    const chosen =
      live[s.kind === "dispatch" || s.kind === "die" ? s.isolate % Math.max(1, live.length) : 0];
    if (s.kind === "advance") this.advance(s.ms);
    else if (s.kind === "spawn") this.spawn();
    else if (s.kind === "restart") this.restart();
    else if (s.kind === "die") {
      if (chosen && !(keepOneAlive && live.length === 1)) chosen.alive = false;
    } else {
      for (let i = 0; chosen && i < s.burst; i++) {
        this.dispatch(chosen, s.durationMs, s.toGateMs, s.backMs);
      }
    }
  }

  check(): void {
    const concurrent = this.leaseInFlight + this.gateInFlight;
    this.peak = Math.max(this.peak, concurrent);
    expect(concurrent).toBeLessThanOrEqual(this.limit);
    expect(this.ledger.outstanding(this.now) + this.gateInFlight).toBeLessThanOrEqual(this.limit);
    // The gate keeps room of its own: a dispatch without a lease is always admitted in turn.
    expect(this.limit - this.ledger.outstanding(this.now)).toBeGreaterThanOrEqual(
      gatePathReserve(this.limit),
    );
  }
}

const step = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("dispatch" as const),
      isolate: fc.nat(7),
      burst: fc.integer({ min: 1, max: 40 }),
      durationMs: fc.integer({ min: 1, max: 4_000 }),
      toGateMs: fc.integer({ min: 0, max: 80 }),
      backMs: fc.integer({ min: 0, max: 80 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.integer({ min: 1, max: 1_500 }),
    }),
  },
  fc.record({ kind: fc.constant("die" as const), isolate: fc.nat(7) }),
  fc.record({ kind: fc.constant("spawn" as const) }),
  fc.record({ kind: fc.constant("restart" as const) }),
);

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const terms = fc.record({
  limit: fc.integer({ min: 1, max: 64 }),
  ttlMs: fc.integer({ min: 1_000, max: 10_000 }),
  holdFraction: fc.double({ min: 0.05, max: 0.9, noNaN: true }),
  isolates: fc.integer({ min: 1, max: 5 }),
});

describe("lease protocol (model with a fake clock)", () => {
  it("never has more handshakes at the node than the limit, whatever the interleaving", () => {
    fc.assert(
      fc.property(terms, fc.array(step, { maxLength: 200 }), (t, steps) => {
        const model = new Model(t.limit, t.ttlMs, Math.floor(t.ttlMs * t.holdFraction));
        for (let i = 0; i < t.isolates; i++) model.spawn();
        for (const s of steps) model.play(s);
        model.advance(2 * t.ttlMs);
        expect(model.ledger.outstanding(model.now)).toBe(0);
      }),
      { numRuns: 300 },
    );
    // Generous: a fixed number of cases, whose time depends only on how busy the machine is.
  }, 60_000);

  it("gives every live isolate that keeps asking a fair share within one TTL of steady traffic", () => {
    fc.assert(
      fc.property(terms, fc.array(step, { maxLength: 60 }), (t, steps) => {
        const model = new Model(t.limit, t.ttlMs, Math.floor(t.ttlMs * t.holdFraction));
        for (let i = 0; i < t.isolates; i++) model.spawn();
        // The same isolates throughout (no spawns, no gate restarts), one dispatch at a time.
        for (const s of steps) {
          if (s.kind === "spawn" || s.kind === "restart") continue;
          model.play(s.kind === "dispatch" ? { ...s, burst: 1 } : s, true);
        }
        // Steady traffic: every live isolate dispatches every 50 ms for two TTLs.
        const live = model.isolates.filter((i) => i.alive);
        for (let elapsed = 0; elapsed < 2 * t.ttlMs + 1_000; elapsed += 50) {
          for (const isolate of live) model.dispatch(isolate, 10, 5, 5);
          model.advance(50);
        }
        const leasable = t.limit - gatePathReserve(t.limit);
        if (leasable < live.length) return; // no share to give: all of them use the gate path
        for (const isolate of live) {
          const record = model.ledger.get(isolate.holder);
          expect(record && heldSlots(record, model.now)).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 200 },
    );
    // Generous: a fixed number of cases, whose time depends only on how busy the machine is.
  }, 60_000);
});
