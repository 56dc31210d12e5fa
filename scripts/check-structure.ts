// `npm run lint`: fails when src/ breaks its structure (scripts/layers.ts): an import against the
// layers, a circle of imports, a log line outside the Log, an `as never`, or a dead value export.
import { fileURLToPath } from "node:url";
import {
  deadValueExports,
  forbiddenText,
  importCycles,
  layerViolations,
  sourceFiles,
} from "./layers.ts";

const at = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const src = sourceFiles(at("../src"));
const elsewhere = new Map<string, string>();
for (const dir of ["test", "bench", "scripts", "backend", "nodes"]) {
  for (const [file, text] of sourceFiles(at(`../${dir}`))) elsewhere.set(`${dir}/${file}`, text);
}
const problems = [
  ...layerViolations(src).map((v) => `src/${v.file}: ${v.imports} — ${v.why}`),
  ...importCycles(src).map((cycle) => `import circle: ${cycle.join(" → ")}`),
  ...forbiddenText(src).map((line) => `src/${line}`),
  ...deadValueExports(src, elsewhere).map((name) => `src/${name}: exported, used in no other file`),
];
for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`${problems.length} problem(s) with the structure of src/ (docs/architecture.md)`);
  process.exit(1);
}
console.log("structure: layers, no import circles, one logger, no dead exports");
