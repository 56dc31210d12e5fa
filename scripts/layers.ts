// The structure of src/ as docs/architecture.md draws it, and the checks that hold it: imports run
// down the layers (a folder imports its own files and the folders of lower layers, never one of
// its own layer or above), no files import each other in a circle, nothing logs but the Log, no
// `as never`, and no value is exported that no other file uses. `npm run lint` runs them
// (scripts/check-structure.ts).
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Each folder of src/ (and the entry files) by layer, top first. */
export const LAYERS: readonly (readonly string[])[] = [
  ["index.ts"],
  ["app.ts"],
  ["routes"],
  ["dispatch"],
  ["durable"],
  ["upstream", "metrics", "logging"],
  ["config", "transport", "util"],
  ["sync"],
  ["balancer", "http"],
];

/** One import that runs the wrong way. */
export interface LayerViolation {
  readonly file: string;
  readonly imports: string;
  readonly why: string;
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/** The folder (or entry file) a path under src/ belongs to. */
function unitOf(pathInSrc: string): string {
  return pathInSrc.split("/")[0] as string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)[^"';]*?from\s*["']([^"']+)["']/g;

/**
 * The violations among `files` (paths relative to src/, with their text): imports of an unknown
 * folder, of a folder of the same layer, or of a higher one.
 */
export function layerViolations(files: ReadonlyMap<string, string>): LayerViolation[] {
  const found: LayerViolation[] = [];
  for (const [file, text] of files) {
    const from = unitOf(file);
    const fromLayer = layerOf(from);
    if (fromLayer < 0) {
      found.push({ file, imports: "", why: `"${from}" is in no layer of scripts/layers.ts` });
      continue;
    }
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] as string;
      if (!spec.startsWith(".")) continue;
      const target = relative(".", join(file, "..", spec)).replaceAll("\\", "/");
      const to = unitOf(target);
      if (to === from) continue;
      const toLayer = layerOf(to);
      if (toLayer < 0) {
        found.push({ file, imports: spec, why: `"${to}" is in no layer` });
      } else if (toLayer <= fromLayer) {
        const where = toLayer === fromLayer ? "the same layer" : "a higher layer";
        found.push({ file, imports: spec, why: `${from} imports ${to}, of ${where}` });
      }
    }
  }
  return found;
}

/** The relative imports of a file, as paths under src/. */
function importsOf(file: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] as string;
    if (spec.startsWith("."))
      found.push(relative(".", join(file, "..", spec)).replaceAll("\\", "/"));
  }
  return found;
}

/** Every circle of imports among `files`, each as the files around it, first file repeated last. */
export function importCycles(files: ReadonlyMap<string, string>): string[][] {
  const edges = new Map([...files].map(([file, text]) => [file, importsOf(file, text)]));
  const state = new Map<string, "open" | "done">();
  const cycles: string[][] = [];
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const next of edges.get(file) ?? []) {
      if (!edges.has(next)) continue;
      if (state.get(next) === "open") cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

/** Text no file of src/ may hold, with why: logging goes through the Log, casts do not lie. */
const FORBIDDEN: readonly { pattern: RegExp; why: string; except?: string }[] = [
  { pattern: /\bconsole\.\w+\(/, why: "logs outside the Log", except: "logging/" },
  { pattern: /\bas never\b/, why: "casts with `as never`" },
];

/** Lines of `files` holding forbidden text, as "file:line: why". */
export function forbiddenText(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of files) {
    text.split("\n").forEach((line, at) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
      for (const rule of FORBIDDEN) {
        if (rule.except && file.startsWith(rule.except)) continue;
        if (rule.pattern.test(line)) found.push(`${file}:${at + 1}: ${rule.why}`);
      }
    });
  }
  return found;
}

const VALUE_EXPORT = /^export (?:async )?(?:const|let|function|class) ([A-Za-z_$][\w$]*)/gm;

/**
 * Values `files` exports that no other file (of src/ or of `elsewhere`: tests, benchmarks,
 * scripts) names, as "file: name". Types are left alone: a public type documents a contract.
 */
export function deadValueExports(
  files: ReadonlyMap<string, string>,
  elsewhere: ReadonlyMap<string, string>,
): string[] {
  const all = [...files, ...elsewhere];
  const dead: string[] = [];
  for (const [file, text] of files) {
    for (const match of text.matchAll(VALUE_EXPORT)) {
      const name = match[1] as string;
      const word = new RegExp(`\\b${name.replace("$", "\\$")}\\b`);
      if (!all.some(([other, body]) => other !== file && word.test(body))) {
        dead.push(`${file}: ${name}`);
      }
    }
  }
  return dead;
}

/** Every .ts and .tsx file under `root`, by its path relative to it. */
export function sourceFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.tsx?$/.test(entry.name)) {
        files.set(relative(root, path).replaceAll("\\", "/"), readFileSync(path, "utf8"));
      }
    }
  };
  walk(root);
  return files;
}
