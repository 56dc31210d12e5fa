import { describe, expect, it } from "vitest";
import { SerialRuns } from "../../src/durable/serial-runs.ts";

describe("SerialRuns", () => {
  it("starts a run that overlaps another only once that one is done, and runs both", async () => {
    const runs = new SerialRuns();
    const log: string[] = [];
    const first = Promise.withResolvers<void>();
    const a = runs.run(async () => {
      log.push("a starts");
      await first.promise;
      log.push("a ends");
    });
    const b = runs.run(async () => {
      log.push("b starts");
    });
    await Promise.resolve();
    expect(log).toEqual(["a starts"]);
    first.resolve();
    await Promise.all([a, b]);
    expect(log).toEqual(["a starts", "a ends", "b starts"]);
  });

  it("passes a run's failure to its caller and still runs the next", async () => {
    const runs = new SerialRuns();
    const failing = runs.run(async () => {
      throw new Error("storage failed");
    });
    let ran = false;
    const next = runs.run(async () => {
      ran = true;
    });
    await expect(failing).rejects.toThrow("storage failed");
    await next;
    expect(ran).toBe(true);
  });

  it("never has two runs under way, however many callers overlap", async () => {
    const runs = new SerialRuns();
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        runs.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setImmediate(resolve));
          active--;
        }),
      ),
    );
    expect(peak).toBe(1);
  });
});
