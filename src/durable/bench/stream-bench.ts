import { DurableObject } from "cloudflare:workers";
import { NodeStream } from "../../transport/node-stream.ts";
import { DEFAULT_STREAM_PATH } from "../../transport/protocol.ts";
import { connectWorkersSocket } from "../../transport/workers-socket.ts";

/** One run of the stream benchmark. */
export interface StreamBenchRequest {
  readonly nodeUrl: string;
  readonly mode: "sync" | "async" | "in-order";
  readonly count: number;
  readonly queueCapacity: number;
}

/** What one run measured. */
export interface StreamBenchResult {
  readonly elapsedMs: number;
  readonly msgsPerSec: number;
}

/**
 * Benchmark only (`npm run bench -- stream`, through `/_gw/admin/diagnostics/stream`): a Durable
 * Object of its own in which stream throughput is measured the way a node's gate runs its
 * stream, kept out of the gate so that the gate's code and RPC surface are the gate's alone.
 */
export class StreamBench extends DurableObject<Env> {
  measure(request: StreamBenchRequest): Promise<StreamBenchResult> {
    return measureStream(request);
  }
}

/**
 * `count` small invocations on a fresh stream of the given queue size, sent one at a time
 * (`sync`), all at once (`async`), or all at once with results consumed in send order
 * (`in-order`).
 */
async function measureStream(request: StreamBenchRequest): Promise<StreamBenchResult> {
  const url = request.nodeUrl.replace(/\/$/, "") + DEFAULT_STREAM_PATH;
  const stream = new NodeStream({
    connect: (signal) => connectWorkersSocket(url, { signal }),
    queueCapacity: request.queueCapacity,
    window: request.queueCapacity,
  });
  const body = new Uint8Array(16);
  const send = () =>
    stream.invoke({ body, contentType: "application/octet-stream" }, { deadlineMs: 60_000 });
  try {
    await send(); // connect and warm up outside the measured window
    const started = Date.now();
    if (request.mode === "sync") {
      for (let i = 0; i < request.count; i++) await send();
    } else {
      const calls = Array.from({ length: request.count }, send);
      if (request.mode === "async") await Promise.all(calls);
      else for (const call of calls) await call;
    }
    const elapsedMs = Math.max(1, Date.now() - started);
    return { elapsedMs, msgsPerSec: (request.count * 1000) / elapsedMs };
  } finally {
    stream.close("benchmark done");
  }
}
