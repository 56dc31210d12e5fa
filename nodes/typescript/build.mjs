// `npm run build`: dist/index.js (one ESM bundle: the library and the codec from src/transport;
// ws stays a dependency) and dist/index.d.ts (tsc's declarations, re-exported).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const require = createRequire(import.meta.url);
const { build } = require("esbuild");

rmSync(`${here}dist`, { recursive: true, force: true });
mkdirSync(`${here}dist`);
await build({
  entryPoints: [`${here}src/index.ts`],
  outfile: `${here}dist/index.js`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  legalComments: "none",
});
// The package's bin, found beside its package.json (its exports do not list bin/).
const tsc = `${dirname(require.resolve("typescript/package.json"))}/bin/tsc`;
execFileSync(process.execPath, [tsc, "-p", `${here}tsconfig.build.json`], { stdio: "inherit" });
writeFileSync(`${here}dist/index.d.ts`, 'export * from "./types/nodes/typescript/src/index.js";\n');
console.log("built dist/index.js and dist/index.d.ts");
