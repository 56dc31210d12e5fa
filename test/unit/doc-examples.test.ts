import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";

/** The ```json blocks of a Markdown file that are a whole config or one service of one. */
function configExamples(path: string): { at: string; config: unknown }[] {
  const text = readFileSync(path, "utf8");
  const blocks = [...text.matchAll(/```json\n([\s\S]*?)```/g)];
  return blocks.flatMap((block) => {
    const value = JSON.parse(block[1] as string) as Record<string, unknown>;
    const line = text.slice(0, block.index).split("\n").length;
    if (Array.isArray(value.services)) return [{ at: `${path}:${line}`, config: value }];
    if (typeof value.name === "string" && !("type" in value)) {
      return [{ at: `${path}:${line}`, config: { services: [value] } }];
    }
    return [];
  });
}

describe("configuration examples in the docs", () => {
  const examples = [
    "README.md",
    "docs/config.md",
    "docs/deploy.md",
    "docs/discovery.md",
    "docs/policies.md",
  ].flatMap(configExamples);

  it("finds the examples it checks", () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  it.each(examples.map((e) => [e.at, e.config]))("%s is a valid configuration", (_at, config) => {
    const result = parseConfig(config);
    expect(result.ok ? [] : result.issues).toEqual([]);
  });
});
