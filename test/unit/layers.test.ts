import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  deadValueExports,
  forbiddenText,
  importCycles,
  layerViolations,
  sourceFiles,
} from "../../scripts/layers.ts";

describe("the structure of src/", () => {
  it("holds: every import runs downwards, in no circle, and only the Log logs", () => {
    const src = sourceFiles(fileURLToPath(new URL("../../src", import.meta.url)));
    expect(layerViolations(src)).toEqual([]);
    expect(importCycles(src)).toEqual([]);
    expect(forbiddenText(src)).toEqual([]);
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

describe("the other structure checks", () => {
  it("find a circle of imports", () => {
    const files = new Map([
      ["transport/link.ts", 'import type { A } from "./link-types.ts";'],
      ["transport/link-types.ts", 'import type { Link } from "./link.ts";'],
      ["transport/frame.ts", 'import { B } from "./protocol.ts";'],
    ]);
    expect(importCycles(files)).toEqual([
      ["transport/link.ts", "transport/link-types.ts", "transport/link.ts"],
    ]);
  });

  it("find console lines outside the Log and as-never casts, not in comments", () => {
    const files = new Map([
      [
        "dispatch/a.ts",
        'console.warn("x");\n// console.log("in a comment")\nconst y = z as never;',
      ],
      ["logging/log.ts", "console.log(line);"],
    ]);
    expect(forbiddenText(files)).toEqual([
      "dispatch/a.ts:1: logs outside the Log",
      "dispatch/a.ts:3: casts with `as never`",
    ]);
  });

  it("find a value exported that no other file names, and leave types alone", () => {
    const files = new Map([
      [
        "sync/a.ts",
        "export const USED = 1;\nexport function unused() {}\nexport interface Shape {}",
      ],
      ["sync/b.ts", 'import { USED } from "./a.ts";'],
    ]);
    expect(deadValueExports(files, new Map())).toEqual(["sync/a.ts: unused"]);
    const tests = new Map([["test/a.test.ts", "unused();"]]);
    expect(deadValueExports(files, tests)).toEqual([]);
  });
});
