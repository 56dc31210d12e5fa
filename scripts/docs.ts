// `npm run docs`: writes the generated reference pages.
import { writeFileSync } from "node:fs";
import { formatMarkdown, renderConfigReference } from "./config-reference.ts";

const path = "docs/config-reference.md";
writeFileSync(path, formatMarkdown(renderConfigReference(), path));
console.log(`wrote ${path}`);
