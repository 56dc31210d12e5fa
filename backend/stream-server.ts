import type { Server } from "node:http";
import {
  type AttachedNodeHandle,
  attachNode,
  type FunctionSpec,
  type Handler,
  type NodeStats,
  type StreamFaults,
} from "../nodes/typescript/src/index.ts";
import { echo, type FunctionModule } from "./functions.ts";

export type { FaultAction, StreamFaults } from "../nodes/typescript/src/index.ts";

/** Totals kept across all of a server's connections (the library's own). */
export type StreamServerStats = NodeStats;

/** Options of {@link attachStreamServer}. */
export interface StreamServerOptions {
  /** Upgrade path; default /_roundhouse/stream. */
  path?: string;
  /** The default function's module; default echoes the body back. */
  handler?: FunctionModule;
  /** Named functions; default just `echo`. */
  functions?: Record<string, Handler | FunctionSpec>;
  /** Initial faults, for tests. */
  faults?: StreamFaults;
  /** Largest payload accepted or sent; default 1 MiB, must match the gateway's. */
  maxPayload?: number;
  /** Functions running at once; default unbounded, as the reference node always was. */
  concurrency?: number;
  /** How often the node pings the gateway; default 0: the reference node does not ping. */
  pingIntervalMs?: number;
  /** Silence after which a stream is closed (4003); default 0, never. */
  heartbeatTimeoutMs?: number;
  /** How long drain() waits for acked invocations; default 30 s. */
  graceMs?: number;
  /** Diagnostic sink; default console.warn. */
  log?: (message: string) => void;
}

/** Handle on the stream endpoint of a node. */
export interface StreamServer {
  /** How many times the function ran for invocation `id` (0 if never). */
  executions(id: number): number;
  /** A snapshot of the totals. */
  stats(): StreamServerStats;
  /** Replaces the faults and restarts the count of onInvoke's nth. */
  setFaults(faults: StreamFaults): void;
  /** Answers GET /health as a library node does (200 ok, 503 draining); false for others. */
  answerHealth: AttachedNodeHandle["answerHealth"];
  /** Drains as a library node does on SIGTERM: goaway, finish acked invocations, close 1000. */
  drain(): Promise<void>;
  /** Stops accepting streams and closes the open ones (1001). */
  close(): Promise<void>;
}

const echoHandler: Handler = (request) => echo.invoke(request);

/**
 * Serves the roundhouse.v1 stream on `server`'s upgrade requests for `path`, through the node
 * library (nodes/typescript) with the reference node's test hooks: faults and execution counts.
 */
export function attachStreamServer(
  server: Server,
  options: StreamServerOptions = {},
): StreamServer {
  let faults: StreamFaults = { ...options.faults };
  let ordinal = 0;
  const executions = new Map<number, number>();
  const module = options.handler ?? echo;
  const node = attachNode(server, {
    path: options.path,
    maxPayload: options.maxPayload,
    default: (request) => module.invoke(request),
    functions: options.functions ?? { echo: echoHandler },
    concurrency: options.concurrency ?? Number.POSITIVE_INFINITY,
    pingIntervalMs: options.pingIntervalMs ?? 0,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 0,
    graceMs: options.graceMs,
    log: options.log ?? ((message) => console.warn(`[stream-server] ${message}`)),
    hooks: {
      faults: () => faults,
      nextOrdinal: () => ++ordinal,
      started: (id) => {
        executions.set(id, (executions.get(id) ?? 0) + 1);
      },
    },
  });
  return {
    executions: (id) => executions.get(id) ?? 0,
    stats: () => node.stats(),
    setFaults(next) {
      faults = { ...next };
      ordinal = 0;
    },
    answerHealth: (request, response) => node.answerHealth(request, response),
    drain: () => node.close(),
    close: () => node.abort(),
  };
}
