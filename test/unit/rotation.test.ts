import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildSchedule, LeasedPositions } from "../../src/balancer/rotation.ts";

describe("buildSchedule", () => {
  it("gives each node as many turns per round as its weight, reduced by the common divisor", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }),
        (weights) => {
          const nodes = weights.map((weight, i) => ({ id: `n${i}`, weight }));
          const schedule = buildSchedule(nodes);
          const divisor = weights.reduce((a, b) => gcd(a, b));
          for (const node of nodes) {
            expect(schedule.filter((id) => id === node.id).length).toBe(node.weight / divisor);
          }
        },
      ),
    );
  });

  it("interleaves a heavy node instead of bunching its turns", () => {
    expect(buildSchedule([{ id: "a", weight: 2 }, { id: "b" }, { id: "c" }])).toEqual([
      "a",
      "b",
      "c",
      "a",
    ]);
    expect(buildSchedule([{ id: "a", weight: 3 }, { id: "b" }])).toEqual(["a", "a", "b", "a"]);
  });

  it("is plain round robin without weights", () => {
    expect(buildSchedule([{ id: "a" }, { id: "b" }, { id: "c" }])).toEqual(["a", "b", "c"]);
  });

  it("is empty for no nodes", () => {
    expect(buildSchedule([])).toEqual([]);
  });
});

describe("LeasedPositions", () => {
  it("hands out each leased position once, then asks for a new lease", () => {
    const positions = new LeasedPositions();
    expect(positions.take()).toBeUndefined();
    positions.refill({ start: 64, size: 3 });
    expect([positions.take(), positions.take(), positions.take(), positions.take()]).toEqual([
      64,
      65,
      66,
      undefined,
    ]);
  });

  it("keeps the global distribution exact when isolates interleave leases", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(2), { minLength: 1, maxLength: 60 }), (isolatesInOrder) => {
        // Isolates lease blocks of 4 from one sequence and spend them fully; 3 nodes in rotation.
        let next = 0;
        const counts = [0, 0, 0];
        for (const _ of isolatesInOrder) {
          const positions = new LeasedPositions();
          positions.refill({ start: next, size: 4 });
          next += 4;
          for (let p = positions.take(); p !== undefined; p = positions.take()) {
            counts[p % 3] = (counts[p % 3] ?? 0) + 1;
          }
        }
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
