// A minimal DevTools protocol client for workerd's inspector behind `wrangler dev`: just enough to
// start and stop the V8 CPU profiler of the gateway's isolate.
import WebSocket from "ws";
import type { CpuProfile } from "./summary.ts";

interface Target {
  readonly title?: string;
  readonly webSocketDebuggerUrl?: string;
}

/** A connection to one isolate's inspector. */
export interface Inspector {
  send<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>;
  close(): void;
}

/** Connects to the first isolate wrangler's inspector proxy lists on `port`. */
export async function connectInspector(port: number): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Target[];
  const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (!url) throw new Error(`the inspector on port ${port} lists no isolate`);
  // Wrangler's inspector proxy only lets local DevTools in: it checks the Origin header, which
  // Node's built-in WebSocket cannot set.
  const socket = new WebSocket(url, { origin: "http://127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), {
      once: true,
    });
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id === undefined) return; // an event; none is subscribed to
    const pending = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) pending?.reject(new Error(message.error.message));
    else pending?.resolve(message.result);
  });
  socket.addEventListener("close", () => {
    for (const pending of waiting.values()) pending.reject(new Error("inspector closed"));
    waiting.clear();
  });
  return {
    send: <T>(method: string, params: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** Profiles the isolate while `work` runs; the sampling interval is in microseconds. */
export async function profileDuring(
  inspector: Inspector,
  work: () => Promise<void>,
  intervalUs = 200,
): Promise<CpuProfile> {
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: intervalUs });
  await inspector.send("Profiler.start");
  try {
    await work();
  } catch (error) {
    // Stopped even when the load fails, so the isolate is not left sampling.
    await inspector.send("Profiler.stop").catch(() => {});
    throw error;
  }
  return (await inspector.send<{ profile: CpuProfile }>("Profiler.stop")).profile;
}
