// `npm run lint`: fails when an import in src/ runs against the layers of scripts/layers.ts.
import { fileURLToPath } from "node:url";
import { layerViolations, sourceFiles } from "./layers.ts";

const src = fileURLToPath(new URL("../src", import.meta.url));
const violations = layerViolations(sourceFiles(src));
for (const v of violations) console.error(`src/${v.file}: ${v.imports} — ${v.why}`);
if (violations.length > 0) {
  console.error(`${violations.length} import(s) against the layers (docs/architecture.md)`);
  process.exit(1);
}
console.log("layers: every import in src/ runs downwards");
