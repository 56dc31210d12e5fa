import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PYTHON, pythonAvailable } from "../python.ts";

// The Python node library's own unittest suite (codec, and end to end over loopback), run by
// `npm test` so that CI judges it with everything else.
describe.runIf(pythonAvailable)("nodes/python", () => {
  it("passes its unittest suite", () => {
    const run = spawnSync(PYTHON, ["-m", "unittest", "discover", "-s", "nodes/python/tests"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(run.stderr).toMatch(/\nOK\b/);
    expect(run.status).toBe(0);
  });
});
