// Renders docs/config-reference.md from the zod schemas, so the reference cannot drift from what
// the gateway accepts. zod's JSON Schema output carries each field's type, range, default and
// description; every object with a registry id becomes a section of its own.
import { execFileSync } from "node:child_process";
import { z } from "zod";
import { ConfigSchema } from "../src/config/schema.ts";

/** The part of JSON Schema (draft 2020-12) that zod emits for the config. */
interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}

const PREAMBLE = `# Configuration reference

Generated from the schemas in \`src/config/\` by \`npm run docs\`: edit the schemas, not this
file; \`npm test\` fails while the two differ. Where the configuration lives, worked examples and
the rules behind these fields are in [config.md](config.md).

A field that is left out takes its default. An object that is left out is filled in from its own
defaults ("all defaults"). "none" means the feature is off, or the value unset, while the field
is absent; "required" means there is no default. Ranges are inclusive. Durations are in
milliseconds.
`;

/** The reference page for a config schema, before formatting. */
export function renderConfigReference(schema: z.ZodType = ConfigSchema): string {
  const root = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const defs = root.$defs ?? {};
  const done = new Set<string>();
  const parts = [PREAMBLE];

  const section = (title: string, node: JsonSchema, path: string) => {
    const refs: string[] = [];
    parts.push(`## ${title}`);
    if (node.description) parts.push(node.description);
    parts.push(node.oneOf ? variantTable(node.oneOf, path) : fieldTable(node, path, defs, refs));
    for (const id of refs) {
      if (done.has(id)) continue;
      done.add(id);
      section(id, defs[id] as JsonSchema, id);
    }
  };
  section("Top level", root, "");
  const missed = Object.keys(defs).filter((id) => !done.has(id));
  if (missed.length > 0) throw new Error(`sections never reached: ${missed.join(", ")}`);
  return `${parts.join("\n\n")}\n`;
}

function fieldTable(
  node: JsonSchema,
  path: string,
  defs: Record<string, JsonSchema>,
  refs: string[],
): string {
  const required = new Set(node.required ?? []);
  const rows = Object.entries(node.properties ?? {}).map(([name, field]) => {
    // zod leaves out a field's description where it repeats that of the object it refers to.
    const meaning = field.description ?? (field.$ref && defs[idOf(field.$ref)]?.description);
    if (!meaning) throw new Error(`${path ? `${path}.` : ""}${name} has no description`);
    collectRefs(field, refs);
    return [`\`${name}\``, typeOf(field), defaultOf(name, field, required.has(name)), meaning];
  });
  return table(["field", "type", "default", "meaning"], rows);
}

function variantTable(variants: JsonSchema[], path: string): string {
  const rows = variants.map((variant, i) => {
    if (!variant.description) throw new Error(`${path} variant ${i} has no description`);
    const shape = Object.entries(variant.properties ?? {}).map(([name, field]) => {
      const value = field.const !== undefined ? JSON.stringify(field.const) : `"<${name}>"`;
      return `"${name}": ${value}`;
    });
    return [`\`{ ${shape.join(", ")} }\``, variant.description];
  });
  return `One of:\n\n${table(["value", "meaning"], rows)}`;
}

/** The registry ids a field's schema refers to, in the order they appear. */
function collectRefs(node: JsonSchema, refs: string[]): void {
  if (node.$ref) refs.push(idOf(node.$ref));
  if (node.items) collectRefs(node.items, refs);
  if (typeof node.additionalProperties === "object") collectRefs(node.additionalProperties, refs);
  for (const variant of node.oneOf ?? []) collectRefs(variant, refs);
  for (const variant of node.anyOf ?? []) collectRefs(variant, refs);
}

function typeOf(node: JsonSchema): string {
  if (node.$ref) {
    const id = idOf(node.$ref);
    return `[${id}](#${anchorOf(id)})`;
  }
  if (node.enum) return listOf(node.enum.map((v) => `\`${JSON.stringify(v)}\``));
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.anyOf) return node.anyOf.map(typeOf).join(" or ");
  switch (node.type) {
    case "integer":
    case "number":
      return `${node.type}${rangeOf(node.minimum, node.maximum)}`;
    case "string":
      if (node.format === "uri") return "URL";
      if (node.pattern) return `string matching ${code(node.pattern.replaceAll("\\/", "/"))}`;
      if (node.minLength !== undefined || node.maxLength !== undefined) {
        return `string,${rangeOf(node.minLength, node.maxLength)} characters`;
      }
      return "string";
    case "boolean":
      return "boolean";
    case "array":
      return `array of ${node.items ? typeOf(node.items) : "values"}${countOf(node)}`;
    case "object": {
      const value = node.additionalProperties;
      if (typeof value !== "object") return "object";
      const key = node.propertyNames ? typeOf(node.propertyNames) : "string";
      return `object: ${key} → ${typeOf(value)}`;
    }
    default:
      return "any";
  }
}

function defaultOf(name: string, node: JsonSchema, required: boolean): string {
  if ("default" in node) {
    const empty = JSON.stringify(node.default) === "{}";
    if (empty && node.$ref) return "all defaults";
    const human = typeof node.default === "number" ? inUnits(name, node.default) : undefined;
    return `${code(printJson(node.default))}${human ? ` (${human})` : ""}`;
  }
  return required ? "required" : "none";
}

/** A default in the unit its field's name ends in, where that reads more easily: 5 min, 1 MiB. */
function inUnits(name: string, value: number): string | undefined {
  const whole = (n: number, unit: string) => (Number.isInteger(n) ? `${n} ${unit}` : undefined);
  if (name.endsWith("Bytes") && value >= 1024) {
    return value >= 1024 * 1024 ? whole(value / (1024 * 1024), "MiB") : whole(value / 1024, "KiB");
  }
  const seconds = name.endsWith("Ms") ? value / 1000 : name.endsWith("Seconds") ? value : undefined;
  if (seconds === undefined || seconds < 1) return undefined;
  if (seconds >= 3_600) return whole(seconds / 3_600, "h") ?? whole(seconds / 60, "min");
  if (seconds >= 60) return whole(seconds / 60, "min") ?? `${seconds} s`;
  return `${seconds} s`;
}

/** ` 1–10`, ` ≥ 0` or nothing; zod writes the safe-integer limits where no bound was set. */
function rangeOf(min: number | undefined, max: number | undefined): string {
  const low = min !== undefined && min > Number.MIN_SAFE_INTEGER ? min : undefined;
  const high = max !== undefined && max < Number.MAX_SAFE_INTEGER ? max : undefined;
  if (low !== undefined && high !== undefined) return ` ${low}–${high}`;
  if (low !== undefined) return ` ≥ ${low}`;
  if (high !== undefined) return ` ≤ ${high}`;
  return "";
}

function countOf(node: JsonSchema): string {
  const { minItems: min, maxItems: max } = node;
  if (min !== undefined && max !== undefined) return `, ${min}–${max} of them`;
  if (max !== undefined) return `, at most ${max}`;
  if (min !== undefined) return `, at least ${min}`;
  return "";
}

function listOf(items: string[]): string {
  if (items.length < 2) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** JSON with spaces after separators, as the rest of the docs write it. */
function printJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(printJson).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${printJson(v)}`);
    return members.length === 0 ? "{}" : `{ ${members.join(", ")} }`;
  }
  return JSON.stringify(value);
}

/** An inline code span that survives backticks in its text. */
function code(text: string): string {
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function table(head: string[], rows: string[][]): string {
  // GFM splits cells at every unescaped pipe, inside code spans too.
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function idOf(ref: string): string {
  return ref.replace("#/$defs/", "");
}

/** GitHub's heading anchor: lower case, punctuation other than - dropped. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replaceAll(" ", "-");
}

/** The page as Biome formats Markdown, so `npm run lint` and the drift test agree. */
export function formatMarkdown(text: string, path = "docs/config-reference.md"): string {
  return execFileSync("node_modules/.bin/biome", ["format", `--stdin-file-path=${path}`], {
    input: text,
    encoding: "utf8",
  });
}
