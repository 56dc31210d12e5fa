import { describe, expect, it } from "vitest";
import { slowStartShare } from "../../src/balancer/slow-start.ts";

describe("slow start", () => {
  it("ramps from the floor to a full share over the window", () => {
    expect(slowStartShare(0, 0, 1000)).toBeCloseTo(0.1);
    expect(slowStartShare(0, 500, 1000)).toBeCloseTo(0.55);
    expect(slowStartShare(0, 1000, 1000)).toBe(1);
    expect(slowStartShare(0, 10, 0)).toBe(1);
  });
});
