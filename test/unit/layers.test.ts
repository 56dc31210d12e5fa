import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { layerViolations, sourceFiles } from "../../scripts/layers.ts";

describe("the layers of src/", () => {
  it("hold: every import runs downwards", () => {
    const src = fileURLToPath(new URL("../../src", import.meta.url));
    expect(layerViolations(sourceFiles(src))).toEqual([]);
  });

  it("catch an arrow back up, one within a layer, and a folder no layer names", () => {
    const files = new Map([
      ["durable/gate.ts", 'import { x } from "../dispatch/deps.ts";'],
      ["config/a.ts", 'import type { Y } from "../transport/frame.ts";'],
      ["sync/wire.ts", 'import { NodeUrlSchema } from "../balancer/node-url.ts";'],
      ["extras/b.ts", 'export { z } from "../http/problem.ts";'],
      ["routes/c.ts", 'import { z } from "zod";\nimport { d } from "./d.ts";'],
    ]);
    expect(layerViolations(files).map((v) => v.why)).toEqual([
      "durable imports dispatch, of a higher layer",
      "config imports transport, of the same layer",
      '"extras" is in no layer of scripts/layers.ts',
    ]);
  });
});
