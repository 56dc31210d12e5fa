// `node backend/conformance-node.ts`: the reference node with the functions docs/conformance.md
// lists, on 127.0.0.1:$PORT, with the library's defaults (pings, concurrency 64, 30 s drain
// grace) and its health answer. SIGTERM drains it; it then exits 0.
import { conformanceFunctions, echo } from "../nodes/typescript/examples/conformance-functions.ts";
import { startNode } from "./node-server.ts";

const node = await startNode({
  id: "conformance",
  port: Number(process.env.PORT ?? 8080),
  functions: { invoke: echo },
  stream: {
    functions: conformanceFunctions(() => node.stats().stream?.aborted ?? 0),
    concurrency: 64,
    pingIntervalMs: 5_000,
    heartbeatTimeoutMs: 15_000,
    graceMs: 30_000,
  },
  libraryHealth: true,
});
process.once("SIGTERM", () => {
  node.drain().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`drain failed: ${String(error)}`);
      process.exit(1);
    },
  );
});
console.log(`conformance node (reference) on ${node.url}`);
