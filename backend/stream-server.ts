import type { IncomingMessage, Server } from "node:http";
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import type { WebSocketServer as WebSocketServerType } from "ws";
import {
  CLOSE_CODES,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_STREAM_PATH,
  HEADER_BYTES,
  SUBPROTOCOL,
} from "../src/transport/protocol.ts";
import { echo, type FunctionModule } from "./functions.ts";
import {
  type ConnectionContext,
  NodeConnection,
  type StreamFaults,
  type StreamServerStats,
} from "./stream-connection.ts";

export type { FaultAction, StreamFaults, StreamServerStats } from "./stream-connection.ts";

// Loaded through Node's own resolver: bundler-style resolution (the Workers test pool runs this
// file from its global setup) picks ws's browser entry, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as {
  WebSocketServer: typeof WebSocketServerType;
};

/** Options of {@link attachStreamServer}. */
export interface StreamServerOptions {
  /** Upgrade path; default /_roundhouse/stream. */
  path?: string;
  /** The node's functions; default echoes the body back. */
  handler?: FunctionModule;
  /** Initial faults, for tests. */
  faults?: StreamFaults;
  /** Largest payload accepted or sent; default 1 MiB, must match the gateway's. */
  maxPayload?: number;
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
  /** Stops accepting streams and closes the open ones (1001). */
  close(): Promise<void>;
}

/**
 * Serves the roundhouse.v1 stream on `server`'s upgrade requests for `path`. Other paths are
 * left to other upgrade listeners, or refused with 404 when there are none.
 */
export function attachStreamServer(
  server: Server,
  options: StreamServerOptions = {},
): StreamServer {
  const path = options.path ?? DEFAULT_STREAM_PATH;
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  let faults: StreamFaults = { ...options.faults };
  let ordinal = 0;
  const stats: StreamServerStats = {
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
  };
  const connections = new Set<NodeConnection>();
  const context: ConnectionContext = {
    handler: options.handler ?? echo,
    maxPayload,
    stats,
    executions: new Map(),
    faults: () => faults,
    nextOrdinal: () => ++ordinal,
    log: options.log ?? ((message) => console.warn(`[stream-server] ${message}`)),
  };
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: HEADER_BYTES + maxPayload,
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
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = new NodeConnection(ws, context);
      connections.add(connection);
      stats.connections++;
      connection.closed.then(() => connections.delete(connection));
    });
  };
  server.on("upgrade", onUpgrade);

  return {
    executions: (id) => context.executions.get(id) ?? 0,
    stats: () => ({ ...stats, open: connections.size }),
    setFaults(next) {
      faults = { ...next };
      ordinal = 0;
    },
    async close() {
      server.off("upgrade", onUpgrade);
      await Promise.all(
        [...connections].map((c) => c.shutdown(CLOSE_CODES.goingAway, "node shutting down")),
      );
      wss.close();
    },
  };
}

function offersSubprotocol(request: IncomingMessage): boolean {
  const header = request.headers["sec-websocket-protocol"] ?? "";
  return header.split(",").some((name) => name.trim() === SUBPROTOCOL);
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
