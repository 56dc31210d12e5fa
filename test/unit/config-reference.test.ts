import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { formatMarkdown, renderConfigReference } from "../../scripts/config-reference.ts";

describe("the generated configuration reference", () => {
  it("is what the schemas produce (run `npm run docs` after changing them)", () => {
    const committed = readFileSync("docs/config-reference.md", "utf8");
    expect(committed).toBe(formatMarkdown(renderConfigReference()));
  });

  it("shows each field's type, range, default and doc", () => {
    const page = renderConfigReference();
    expect(page).toContain(
      "| `maxAttempts` | integer 1–10 | `3` | Most attempts sent for one request, the first one included",
    );
    expect(page).toContain("| `retry` | [retry](#retry) | all defaults |");
    expect(page).toContain("| `discovery` | [discovery](#discovery) | none |");
    expect(page).toContain("| `name` | string matching `^[a-z0-9][a-z0-9_-]{0,62}$` | required |");
    expect(page).toMatch(/## retry\.budget\n/);
    expect(page).toContain('| `{ "kind": "vpc-network", "binding": "<binding>" }` |');
    expect(page).toContain("| `maxAnswerBytes` | integer 64–16777216 | `1048576` (1 MiB) |");
    expect(page).toContain("| `ttlSeconds` | integer 1–31536000 | `82800` (23 h) |");
    expect(page).toContain("| `staleAfterMs` | integer 1000–604800000 | `300000` (5 min) |");
  });

  it("refuses a field without a description", () => {
    const schema = z.strictObject({ documented: z.int().describe("has one"), bare: z.int() });
    expect(() => renderConfigReference(schema)).toThrow("bare has no description");
  });

  it("escapes pipes so a pattern stays in its table cell", () => {
    const schema = z.strictObject({ token: z.string().regex(/^a|b$/).describe("either") });
    expect(renderConfigReference(schema)).toContain("| `token` | string matching `^a\\|b$` |");
  });
});
