// `npm run bench -- stream`: throughput of the per-node stream, measured from inside a gate object
// against a loopback node (the reference experiment: 5000 messages; sync, async and in-order; by
// queue size), then end to end: POST /v1/invoke against one HTTP request per call through the proxy.
// With --profile, the gate object's isolate is then sampled over more async runs, apart from the
// measured ones, and its heaviest functions are printed per message. With --node, the node
// libraries' own nodes are measured beside the reference node, in turns, as ratios to it.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startFleet } from "../backend/fleet.ts";
import { IMPLEMENTATIONS } from "../scripts/conformance/args.ts";
import { type NodeProcess, startNode } from "../scripts/conformance/node-process.ts";
import { NodeStream } from "../src/transport/node-stream.ts";
import { DEFAULT_STREAM_PATH } from "../src/transport/protocol.ts";
import { connectWebSocket } from "../src/transport/web-socket.ts";
import { startGateway } from "./gateway.ts";
import { quantile, runLoad } from "./load.ts";
import { connectInspector, profileDuring } from "./profile/inspector.ts";
import { summarise } from "./profile/summary.ts";
import { STREAM_REFERENCE } from "./reference.ts";
import { fmt, machine, printTable, resultFile, writeResult } from "./report.ts";

const MODES = ["sync", "async", "in-order"] as const;
const QUEUE_SIZES = [64, 512, 1024, 2048, 4096] as const;
type Mode = (typeof MODES)[number];

/** Each node library's async msgs/s over the reference node's, measured in turns in one run. */
export const LIBRARY_TARGETS = { typescript: 0.95, python: 0.3 } as const;

/** A node library the bench can measure. */
export type Library = keyof typeof LIBRARY_TARGETS;

/** The ratios the stream is judged by (issue 20): side by side in one run, never absolute msgs/s. */
export const RATIO_TARGETS = {
  gateOverNodeClientAsync: 0.95,
  asyncOverSync: 15,
  inOrderOverAsync: 0.9,
} as const;

const RATIO_LABELS: Record<keyof typeof RATIO_TARGETS, string> = {
  gateOverNodeClientAsync: "gate async / Node client async",
  asyncOverSync: "gate async / gate sync",
  inOrderOverAsync: "gate in-order / gate async",
};

const byMode = (): Record<Mode, Record<string, number>> => ({
  sync: {},
  async: {},
  "in-order": {},
});

export async function streamBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: "string", default: "5000" },
      repeats: { type: "string", default: "3" },
      concurrency: { type: "string", default: "32" },
      "duration-ms": { type: "string", default: "8000" },
      port: { type: "string", default: "8794" },
      profile: { type: "boolean", default: false },
      "profile-runs": { type: "string", default: "20" },
      node: { type: "string", default: "" },
    },
  });
  const libraries = parseLibraries(values.node);
  const count = Number(values.count);
  const repeats = Number(values.repeats);
  const fleet = await startFleet({ host: "127.0.0.1" });
  const node = await fleet.addNode({ id: "stream-1" });
  const streamService = (name: string, id: string, url: string) => ({
    name,
    allow: ["127.0.0.0/8"],
    nodes: [{ id, url }],
    retry: { maxAttempts: 1 },
  });
  const libraryNodes = new Map<Library, NodeProcess & { url: string }>();
  for (const library of libraries) {
    const target = IMPLEMENTATIONS.find((t) => t.name === library);
    if (!target) throw new Error(`no conformance command for ${library}`);
    const running = await startNode(target.command);
    libraryNodes.set(library, Object.assign(running, { url: `http://127.0.0.1:${running.port}` }));
  }
  const services = [
    streamService("stream", node.id, node.url),
    ...[...libraryNodes].map(([library, running]) =>
      streamService(`stream-${library}`, library, running.url),
    ),
  ];
  const port = Number(values.port);
  const inspectorPort = port + 1;
  const gateway = await startGateway(
    { services },
    port,
    {},
    values.profile ? { inspectorPort } : {},
  );
  // The gate object's figures and the same client's in Node, cell by cell in turns, so that the
  // ratios between them are read from neighbouring runs.
  const msgsPerSec = byMode();
  const nodeClient = byMode();
  const gateRun = async (
    mode: Mode,
    queueCapacity: number,
    target: { service: string; nodeId: string } = { service: "stream", nodeId: node.id },
  ): Promise<number> => {
    const response = await fetch(`${gateway.url}/_gw/admin/diagnostics/stream`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${gateway.adminToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ ...target, mode, count, queueCapacity }),
    });
    if (!response.ok) throw new Error(`stream bench: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { msgsPerSec: number }).msgsPerSec;
  };
  try {
    for (const mode of MODES) {
      for (const queueCapacity of QUEUE_SIZES) {
        // Best of a few runs: the machine is shared, and the best run is the least disturbed one.
        let gateBest = 0;
        let nodeBest = 0;
        for (let r = 0; r < repeats; r++) {
          gateBest = Math.max(gateBest, await gateRun(mode, queueCapacity));
          nodeBest = Math.max(nodeBest, await nodeClientRun(node.url, mode, count, queueCapacity));
        }
        msgsPerSec[mode][queueCapacity] = gateBest;
        nodeClient[mode][queueCapacity] = nodeBest;
      }
    }

    const load = {
      concurrency: Number(values.concurrency),
      durationMs: Number(values["duration-ms"]),
    };
    const body = "x".repeat(16);
    const headers = { "content-type": "application/octet-stream" };
    await runLoad({
      url: `${gateway.url}/v1/invoke/stream`,
      method: "POST",
      body,
      headers,
      ...load,
      durationMs: 1_000,
    });
    const invoke = await runLoad({
      url: `${gateway.url}/v1/invoke/stream`,
      method: "POST",
      body,
      headers,
      ...load,
    });
    await runLoad({
      url: `${gateway.url}/s/stream/`,
      method: "POST",
      body,
      headers,
      ...load,
      durationMs: 1_000,
    });
    const http = await runLoad({
      url: `${gateway.url}/s/stream/`,
      method: "POST",
      body,
      headers,
      ...load,
    });

    const libraryFigures: Partial<Record<Library, LibraryFigures>> = {};
    for (const [library, running] of libraryNodes) {
      libraryFigures[library] = await measureLibrary(library, running.url, {
        repeats,
        count,
        gate: (queueCapacity, nodeId) =>
          gateRun(
            "async",
            queueCapacity,
            nodeId === node.id
              ? { service: "stream", nodeId }
              : { service: `stream-${library}`, nodeId },
          ),
        referenceId: node.id,
        referenceUrl: node.url,
        invoke: async () => {
          const url = `${gateway.url}/v1/invoke/stream-${library}`;
          await runLoad({ url, method: "POST", body, headers, ...load, durationMs: 1_000 });
          return runLoad({ url, method: "POST", body, headers, ...load });
        },
      });
    }

    const best = (of: Record<Mode, Record<string, number>>, mode: Mode) =>
      Math.max(...Object.values(of[mode]));
    const ratio = (value: number, atLeast: number) => ({ value, atLeast, met: value >= atLeast });
    const ratios = {
      // What is left between the two is the cost of workerd's WebSocket path.
      gateOverNodeClientAsync: ratio(
        best(msgsPerSec, "async") / best(nodeClient, "async"),
        RATIO_TARGETS.gateOverNodeClientAsync,
      ),
      asyncOverSync: ratio(
        best(msgsPerSec, "async") / best(msgsPerSec, "sync"),
        RATIO_TARGETS.asyncOverSync,
      ),
      inOrderOverAsync: ratio(
        best(msgsPerSec, "in-order") / best(msgsPerSec, "async"),
        RATIO_TARGETS.inOrderOverAsync,
      ),
    };
    const bestOf = (of: Record<Mode, Record<string, number>>) => ({
      sync: best(of, "sync"),
      async: best(of, "async"),
      inOrder: best(of, "in-order"),
    });
    const result = {
      machine: machine(),
      count,
      repeats,
      msgsPerSecByQueue: msgsPerSec,
      msgsPerSecNodeClientByQueue: nodeClient,
      msgsPerSec: bestOf(msgsPerSec),
      msgsPerSecNodeClient: bestOf(nodeClient),
      ratios,
      invokePerSec: {
        stream: invoke.ok / (invoke.elapsedMs / 1000),
        http: http.ok / (http.elapsedMs / 1000),
      },
      invokeP99Ms: {
        stream: quantile(invoke.latenciesMs, 0.99),
        http: quantile(http.latenciesMs, 0.99),
      },
      invokeErrors: { stream: invoke.errors, http: http.errors },
      libraries: libraryFigures,
      reference: STREAM_REFERENCE,
    };

    console.log(
      `\nstream: ${count} messages per run, best of ${repeats}, to a loopback node from a gate object and from Node, in turns (msgs/s)`,
    );
    const reference = (q: number) => STREAM_REFERENCE[q as keyof typeof STREAM_REFERENCE];
    printTable(
      [
        "queue",
        ...MODES.map((m) => `gate ${m}`),
        ...MODES.map((m) => `node ${m}`),
        "ref sync",
        "ref async",
        "ref in-order",
      ],
      QUEUE_SIZES.map((q) => [
        q,
        ...MODES.map((m) => fmt(msgsPerSec[m][q] ?? 0)),
        ...MODES.map((m) => fmt(nodeClient[m][q] ?? 0)),
        reference(q)?.sync ?? "",
        reference(q)?.async ?? "",
        reference(q)?.inOrder ?? "",
      ]),
    );
    console.log("\nratios, best over queue sizes on each side, measured in this run:");
    printTable(
      ["ratio", "measured", "target", "met"],
      (Object.keys(ratios) as (keyof typeof ratios)[]).map((name) => {
        const { value, atLeast, met } = ratios[name];
        return [RATIO_LABELS[name], `${fmt(value, 2)}×`, `≥ ${atLeast}×`, met ? "yes" : "NO"];
      }),
    );
    console.log("");
    printTable(
      ["end to end", "calls/s", "p99 ms", "errors"],
      [
        [
          "POST /v1/invoke (stream)",
          fmt(result.invokePerSec.stream),
          fmt(result.invokeP99Ms.stream, 1),
          invoke.errors,
        ],
        [
          "POST /s/… (HTTP per call)",
          fmt(result.invokePerSec.http),
          fmt(result.invokeP99Ms.http, 1),
          http.errors,
        ],
      ],
    );
    if (libraryNodes.size > 0) printLibraries(libraryFigures, result);
    console.log(`wrote ${writeResult("stream", result)}`);
    if (values.profile) {
      const queues = msgsPerSec.async;
      const queueCapacity = Number(
        Object.keys(queues).reduce((a, b) => ((queues[a] ?? 0) >= (queues[b] ?? 0) ? a : b)),
      );
      await profileGate(inspectorPort, Number(values["profile-runs"]), count, queueCapacity, () =>
        gateRun("async", queueCapacity),
      );
    }
  } finally {
    await gateway.stop();
    for (const running of libraryNodes.values()) await running.stop();
    await fleet.close();
  }
}

function parseLibraries(list: string): Library[] {
  const names = list.split(",").filter((name) => name !== "");
  for (const name of names) {
    if (!(name in LIBRARY_TARGETS)) {
      throw new Error(
        `--node ${name}: not a node library (${Object.keys(LIBRARY_TARGETS).join(", ")})`,
      );
    }
  }
  return names as Library[];
}

/** One library beside the reference node, from the same run. */
interface LibraryFigures {
  /** Best async msgs/s over queue sizes: the library's node, and the reference node in turns. */
  readonly asyncMsgsPerSec: { readonly gate: number; readonly nodeClient: number };
  readonly referenceAsyncMsgsPerSec: { readonly gate: number; readonly nodeClient: number };
  /** The gate object's async msgs/s to the library's node over those to the reference node. */
  readonly ratio: { readonly value: number; readonly atLeast: number; readonly met: boolean };
  /** The same ratio from the Node client, which pushes the node harder than the gate does. */
  readonly nodeClientRatio: number;
  /** End to end, POST /v1/invoke to the library's node. */
  readonly invokePerSec: number;
  readonly invokeP99Ms: number;
  readonly invokeErrors: number;
}

/**
 * Async runs to the library's node and to the reference node in turns, from the gate object and
 * from Node, at every queue size; then the library's node end to end.
 */
async function measureLibrary(
  library: Library,
  url: string,
  run: {
    readonly repeats: number;
    readonly count: number;
    readonly gate: (queueCapacity: number, nodeId: string) => Promise<number>;
    readonly referenceId: string;
    readonly referenceUrl: string;
    readonly invoke: () => ReturnType<typeof runLoad>;
  },
): Promise<LibraryFigures> {
  const best = { gate: 0, nodeClient: 0 };
  const reference = { gate: 0, nodeClient: 0 };
  for (const queueCapacity of QUEUE_SIZES) {
    for (let r = 0; r < run.repeats; r++) {
      reference.gate = Math.max(reference.gate, await run.gate(queueCapacity, run.referenceId));
      best.gate = Math.max(best.gate, await run.gate(queueCapacity, library));
      reference.nodeClient = Math.max(
        reference.nodeClient,
        await nodeClientRun(run.referenceUrl, "async", run.count, queueCapacity),
      );
      best.nodeClient = Math.max(
        best.nodeClient,
        await nodeClientRun(url, "async", run.count, queueCapacity),
      );
    }
  }
  const invoke = await run.invoke();
  const value = best.gate / reference.gate;
  const atLeast = LIBRARY_TARGETS[library];
  return {
    asyncMsgsPerSec: best,
    referenceAsyncMsgsPerSec: reference,
    ratio: { value, atLeast, met: value >= atLeast },
    nodeClientRatio: best.nodeClient / reference.nodeClient,
    invokePerSec: invoke.ok / (invoke.elapsedMs / 1000),
    invokeP99Ms: quantile(invoke.latenciesMs, 0.99),
    invokeErrors: invoke.errors,
  };
}

function printLibraries(
  figures: Partial<Record<Library, LibraryFigures>>,
  result: { invokePerSec: { stream: number }; invokeP99Ms: { stream: number } },
): void {
  console.log(
    "\nnode libraries beside the reference node, async, best over queue sizes, in turns:",
  );
  printTable(
    [
      "node",
      "gate msgs/s",
      "over reference",
      "target",
      "met",
      "Node client over ref",
      "invoke/s",
      "p99 ms",
    ],
    [
      [
        "reference",
        "",
        "1.00×",
        "",
        "",
        "1.00×",
        fmt(result.invokePerSec.stream),
        fmt(result.invokeP99Ms.stream, 1),
      ],
      ...(Object.entries(figures) as [Library, LibraryFigures][]).map(([library, f]) => [
        library,
        fmt(f.asyncMsgsPerSec.gate),
        `${fmt(f.ratio.value, 2)}×`,
        `≥ ${f.ratio.atLeast}×`,
        f.ratio.met ? "yes" : "NO",
        `${fmt(f.nodeClientRatio, 2)}×`,
        fmt(f.invokePerSec),
        fmt(f.invokeP99Ms, 1),
      ]),
    ],
  );
}

/** Samples the gate object's isolate over `runs` async runs and prints its heaviest functions. */
async function profileGate(
  inspectorPort: number,
  runs: number,
  count: number,
  queueCapacity: number,
  run: () => Promise<number>,
): Promise<void> {
  const inspector = await connectInspector(inspectorPort);
  const profile = await profileDuring(
    inspector,
    async () => {
      for (let r = 0; r < runs; r++) await run();
    },
    100,
  );
  inspector.close();
  const summary = summarise(profile);
  const messages = runs * count;
  console.log(
    `\ngate object, ${runs} async runs of ${count} at queue ${queueCapacity}, profiled apart from the measured runs: busy ${fmt(summary.busyMs)} ms, ${fmt((summary.busyMs * 1000) / messages, 2)} µs per message (the admin request around each run included)`,
  );
  printTable(
    ["self ms", "share", "µs/msg", "function"],
    summary.functions
      .slice(0, 20)
      .map((f) => [
        fmt(f.selfMs, 1),
        `${fmt(f.share * 100, 1)}%`,
        fmt((f.selfMs * 1000) / messages, 2),
        f.label,
      ]),
  );
  const raw = resultFile("stream-gate.cpuprofile");
  writeFileSync(raw, JSON.stringify(profile));
  console.log(`wrote ${raw}`);
}

/** One run of the stream client in this Node process against the node, msgs/s. */
async function nodeClientRun(
  nodeUrl: string,
  mode: Mode,
  count: number,
  queueCapacity: number,
): Promise<number> {
  const url = nodeUrl.replace(/^http/, "ws") + DEFAULT_STREAM_PATH;
  const stream = new NodeStream({
    connect: (signal) => connectWebSocket(url, { signal }),
    queueCapacity,
    window: queueCapacity,
  });
  const body = new Uint8Array(16);
  const send = () =>
    stream.invoke({ body, contentType: "application/octet-stream" }, { deadlineMs: 60_000 });
  try {
    await send();
    const started = performance.now();
    if (mode === "sync") {
      for (let i = 0; i < count; i++) await send();
    } else {
      const calls = Array.from({ length: count }, send);
      if (mode === "async") await Promise.all(calls);
      else for (const call of calls) await call;
    }
    return (count * 1000) / (performance.now() - started);
  } finally {
    stream.close("benchmark done");
  }
}
