import { describe, expect, it } from "vitest";
import {
  type EjectionPolicy,
  eject,
  ejectionAllowance,
  HEALTHY,
  isEjected,
  recordFailure,
  recordSuccess,
} from "../../src/balancer/ejection.ts";

const policy: EjectionPolicy = {
  consecutiveFailures: 3,
  baseMs: 1_000,
  maxMs: 2_500,
  maxEjectedShare: 0.5,
};

describe("passive ejection", () => {
  it("asks for ejection after the configured run of consecutive failures", () => {
    let state = HEALTHY;
    const wants: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const result = recordFailure(state, policy);
      state = result.state;
      wants.push(result.wantsEjection);
    }
    expect(wants).toEqual([false, false, true]);
  });

  it("restarts the streak on a success", () => {
    const twice = recordFailure(recordFailure(HEALTHY, policy).state, policy).state;
    const after = recordSuccess(twice, 0, policy);
    expect(after.streak).toBe(0);
    expect(recordFailure(after, policy).wantsEjection).toBe(false);
  });

  it("lengthens repeated ejections and caps them", () => {
    const first = eject(HEALTHY, 0, policy);
    const second = eject(first, 10_000, policy);
    const third = eject(second, 20_000, policy);
    expect([first.ejectedUntil, second.ejectedUntil - 10_000, third.ejectedUntil - 20_000]).toEqual(
      [1_000, 2_000, 2_500],
    );
    expect(isEjected(first, 999)).toBe(true);
    expect(isEjected(first, 1_000)).toBe(false);
  });

  it("forgets past ejections once the node stays healthy for a full maximum", () => {
    const once = eject(HEALTHY, 0, policy);
    expect(recordSuccess(once, 1_000, policy).ejections).toBe(1);
    expect(recordSuccess(once, 2_500, policy).ejections).toBe(0);
  });

  it("caps how many nodes may be out at once, but lets small services shed one", () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => ejectionAllowance(n, 0.5))).toEqual([0, 0, 1, 1, 2, 5]);
    expect(ejectionAllowance(3, 0.1)).toBe(1);
    expect(ejectionAllowance(30, 0.1)).toBe(3);
    expect(ejectionAllowance(10, 0)).toBe(0);
  });
});
