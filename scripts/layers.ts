// The layers of src/, as docs/architecture.md draws them, and the check that imports only run
// downwards: a folder may import its own files and the folders of lower layers, never a folder of
// its own layer or of one above. `npm run lint` runs it (scripts/check-layers.ts).
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
