// `node nodes/typescript/examples/conformance-node.ts`: the functions docs/conformance.md lists,
// served by the library alone on 127.0.0.1:$PORT. SIGTERM drains it; it then exits 0.
import { serve } from "../src/index.ts";
import { conformanceFunctions, echo } from "./conformance-functions.ts";

const node = await serve({
  port: Number(process.env.PORT ?? 8080),
  host: "127.0.0.1",
  default: echo,
  functions: conformanceFunctions(() => node.stats().aborted),
});
console.log(`conformance node (library) on ${node.url}`);
