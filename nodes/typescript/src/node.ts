import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocketServer as WebSocketServerType } from "ws";
import { Fifo } from "../../../src/transport/fifo.ts";
import {
  CLOSE_CODES,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_STREAM_PATH,
  FUNCTION_NAME,
  HEADER_BYTES,
  SUBPROTOCOL,
} from "../../../src/transport/protocol.ts";
import { NodeConnection, type NodeContext } from "./connection.ts";
import { NO_FAULTS, type NodeHooks } from "./hooks.ts";
import type { Invocation, Registered } from "./invocation.ts";
import type {
  AttachedNode,
  FunctionSpec,
  Handler,
  NodeOptions,
  NodeStats,
  ServedNode,
  ServeOptions,
} from "./types.ts";

// Loaded through Node's own resolver: bundler-style resolution (the Workers test pool loads the
// reference node from its global setup) picks ws's browser entry, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as {
  WebSocketServer: typeof WebSocketServerType;
};

/** Path of the health endpoint the gateway's probes use by default. */
export const HEALTH_PATH = "/health";

/** attachNode's options, with the reference node's test instrumentation (not for users). */
export interface AttachOptions extends NodeOptions {
  /** Fault injection and execution counts for the reference node's tests. */
  hooks?: NodeHooks;
}

/** A node on an http.Server, with the health answer its server's request handler may use. */
export interface AttachedNodeHandle extends AttachedNode {
  /** Answers `GET /health` (200 `ok`, 503 once draining) and returns true; false for others. */
  answerHealth(request: IncomingMessage, response: ServerResponse): boolean;
}

/**
 * Serves the roundhouse.v1 stream on `server`'s upgrade requests for the stream path. Other
 * paths are left to other upgrade listeners, or refused with 404 when there are none.
 */
export function attachNode(server: Server, options: AttachOptions = {}): AttachedNodeHandle {
  const path = options.path ?? DEFAULT_STREAM_PATH;
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const graceMs = options.graceMs ?? 30_000;
  const { hooks } = options;
  const stats = emptyStats();
  const connections = new Set<NodeConnection>();
  const waiting = new Fifo<Invocation>();
  let pumping = false;
  let draining: Promise<void> | null = null;
  const context: NodeContext = {
    functions: registry(options.functions ?? {}),
    fallback: options.default === undefined ? undefined : resolve(undefined, options.default),
    maxPayload,
    concurrency: positive("concurrency", options.concurrency ?? 64),
    pingIntervalMs: options.pingIntervalMs ?? 5_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 15_000,
    stats,
    waiting,
    hooks,
    faults: hooks === undefined ? () => NO_FAULTS : () => hooks.faults(),
    pump() {
      // Re-entered when a function started here answers at once: the outer loop goes on.
      if (pumping) return;
      pumping = true;
      try {
        while (waiting.length > 0 && stats.running < context.concurrency) {
          const next = waiting.shift() as Invocation;
          next.connection.accept(next);
        }
      } finally {
        pumping = false;
      }
    },
    log: options.log ?? ((message) => console.warn(`[roundhouse-node] ${message}`)),
  };
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    // Twice the limit, so that a message somewhat over it is refused by the stream with 4002,
    // as the protocol documents; ws itself closes with 1009 only far past it.
    maxPayload: 2 * (HEADER_BYTES + maxPayload),
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { pathname } = new URL(request.url ?? "/", "http://node");
    if (pathname !== path) {
      if (server.listenerCount("upgrade") === 1) refuse(socket, 404, "Not Found");
      return;
    }
    if (!offersSubprotocol(request)) {
      refuse(socket, 400, "Bad Request");
      return;
    }
    if (draining !== null) {
      refuse(socket, 503, "Service Unavailable");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new NodeConnection(ws, context);
      connections.add(connection);
      stats.connections++;
      connection.closed.then(() => connections.delete(connection));
    });
  };
  server.on("upgrade", onUpgrade);

  const stop = () => {
    server.off("upgrade", onUpgrade);
    wss.close();
  };
  return {
    stats: () => ({ ...stats, open: connections.size }),
    get draining() {
      return draining !== null;
    },
    answerHealth(request, response) {
      if (request.method !== "GET" && request.method !== "HEAD") return false;
      if (new URL(request.url ?? "/", "http://node").pathname !== HEALTH_PATH) return false;
      const status = draining === null ? 200 : 503;
      response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      response.end(draining === null ? "ok" : "draining");
      return true;
    },
    close() {
      draining ??= (async () => {
        const open = [...connections];
        for (const connection of open) connection.goaway("node draining");
        // What waits unacked was never started: rejected now, it can run on another node.
        while (waiting.length > 0) {
          const next = waiting.shift() as Invocation;
          next.connection.accept(next);
        }
        await Promise.all(open.map((connection) => connection.drain(graceMs)));
        stop();
      })();
      return draining;
    },
    async abort(code = CLOSE_CODES.goingAway, reason = "node shutting down") {
      stop();
      await Promise.all([...connections].map((c) => c.shutdown(code, reason)));
    },
  };
}

/**
 * Starts an http.Server serving the stream and `GET /health`, and resolves once it listens.
 * With `handleSignals` (the default), SIGTERM and SIGINT drain it.
 */
export async function serve(options: ServeOptions): Promise<ServedNode> {
  const host = options.host ?? "127.0.0.1";
  let node: AttachedNodeHandle | undefined;
  const server = http.createServer((request, response) => {
    if (node?.answerHealth(request, response)) return;
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found");
  });
  const attached = attachNode(server, options);
  node = attached;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `ws://${host.includes(":") ? `[${host}]` : host}:${port}${options.path ?? DEFAULT_STREAM_PATH}`;
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  let closing: Promise<void> | null = null;
  const onSignal = () => {
    void handle.close();
  };
  const signals = options.handleSignals ?? true;
  if (signals) {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  const release = () => {
    if (!signals) return;
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
  const handle: ServedNode = {
    port,
    url,
    stats: () => attached.stats(),
    get draining() {
      return attached.draining;
    },
    close() {
      closing ??= attached.close().then(closeServer).finally(release);
      return closing;
    },
    abort(code, reason) {
      closing ??= attached.abort(code, reason).then(closeServer).finally(release);
      return closing;
    },
  };
  return handle;
}

function emptyStats(): NodeStats {
  return {
    connections: 0,
    open: 0,
    invocations: 0,
    acked: 0,
    awaitingAck: 0,
    peakAwaitingAck: 0,
    rejected: 0,
    results: 0,
    errors: 0,
    running: 0,
    peakRunning: 0,
    pings: 0,
    goaways: 0,
    protocolErrors: 0,
    aborted: 0,
    heartbeatTimeouts: 0,
  };
}

function registry(functions: Record<string, Handler | FunctionSpec>): Map<string, Registered> {
  const map = new Map<string, Registered>();
  for (const [name, entry] of Object.entries(functions)) {
    if (!FUNCTION_NAME.test(name)) {
      throw new Error(`function name ${JSON.stringify(name)} must match ${FUNCTION_NAME}`);
    }
    map.set(name, resolve(name, entry));
  }
  return map;
}

function resolve(name: string | undefined, entry: Handler | FunctionSpec): Registered {
  const label = name ?? "default";
  const spec = typeof entry === "function" ? { handler: entry } : entry;
  if (typeof spec?.handler !== "function") {
    throw new Error(`function ${label} needs a handler`);
  }
  const { maxBodyBytes, timeoutMs } = spec;
  return {
    name,
    handler: spec.handler,
    idempotent: spec.idempotent === true,
    maxBodyBytes:
      maxBodyBytes === undefined ? Infinity : positive(`${label}.maxBodyBytes`, maxBodyBytes, 0),
    timeoutMs: timeoutMs === undefined ? 0 : positive(`${label}.timeoutMs`, timeoutMs),
  };
}

function positive(what: string, value: number, atLeast = 1): number {
  if (!(value >= atLeast)) throw new Error(`${what} must be a number of at least ${atLeast}`);
  return value;
}

function offersSubprotocol(request: IncomingMessage): boolean {
  const header = request.headers["sec-websocket-protocol"] ?? "";
  return header.split(",").some((name) => name.trim() === SUBPROTOCOL);
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
