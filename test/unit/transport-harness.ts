import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  attachStreamServer,
  type StreamServer,
  type StreamServerOptions,
} from "../../backend/stream-server.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import type { NodeStreamOptions, StreamLogEntry } from "../../src/transport/node-stream-types.ts";
import { DEFAULT_STREAM_PATH } from "../../src/transport/protocol.ts";
import type { Connect, StreamSocket } from "../../src/transport/socket.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";

/** A loopback http.Server with the stream endpoint attached. */
export interface TestNode {
  /** ws:// URL of the stream endpoint. */
  url: string;
  /** The attached stream server. */
  node: StreamServer;
  close(): Promise<void>;
}

export async function startTestNode(options: StreamServerOptions = {}): Promise<TestNode> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const node = attachStreamServer(server, { log: () => {}, ...options });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}${options.path ?? DEFAULT_STREAM_PATH}`,
    node,
    async close() {
      await node.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What the socket guard saw. */
export interface SocketAudit {
  /** Sockets handed to the stream. */
  sockets: number;
  /** Messages sent while the socket was open. */
  sends: number;
  /** Sends attempted after close() or after the close event: must stay 0. */
  sendsAfterClose: number;
}

/**
 * Connects with Node's global WebSocket through a guard that records (and throws on) any
 * send made after the socket was closed by either side.
 */
export function guardedConnect(url: string, audit: SocketAudit): Connect {
  return async (signal) => {
    const socket = await connectWebSocket(url, { signal });
    audit.sockets++;
    return guard(socket, audit);
  };
}

function guard(socket: StreamSocket, audit: SocketAudit): StreamSocket {
  let closed = false;
  return {
    send(bytes) {
      if (closed) {
        audit.sendsAfterClose++;
        throw new Error("send on a closed socket");
      }
      audit.sends++;
      socket.send(bytes);
    },
    close(code, reason) {
      closed = true;
      socket.close(code, reason);
    },
    listen(listener) {
      return socket.listen({
        message: (data) => listener.message(data),
        error: (cause) => listener.error(cause),
        close(code, reason) {
          closed = true;
          listener.close(code, reason);
        },
      });
    },
  };
}

/** Things a test started, closed after it in reverse order. */
export type Cleanups = (() => Promise<void> | void)[];

/** What a stream test works with: the node, a stream to it, the socket audit and the stream's log. */
export interface StreamFixture {
  test: TestNode;
  stream: NodeStream;
  audit: SocketAudit;
  log: StreamLogEntry[];
}

/** Starts a test node and a guarded stream to it; both are closed through `cleanups`. */
export async function startStreamFixture(
  cleanups: Cleanups,
  nodeOptions: StreamServerOptions = {},
  streamOptions: Partial<NodeStreamOptions> = {},
): Promise<StreamFixture> {
  const test = await startTestNode(nodeOptions);
  cleanups.push(() => test.close());
  const audit: SocketAudit = { sockets: 0, sends: 0, sendsAfterClose: 0 };
  const sink = logSink();
  const stream = new NodeStream({
    connect: guardedConnect(test.url, audit),
    log: sink.log,
    ...streamOptions,
  });
  cleanups.push(() => stream.close());
  return { test, stream, audit, log: sink.entries };
}

/** Collects a stream's log. */
export function logSink(): { entries: StreamLogEntry[]; log: (entry: StreamLogEntry) => void } {
  const entries: StreamLogEntry[] = [];
  return { entries, log: (entry) => entries.push(entry) };
}

export { waitFor } from "./wait-for.ts";

/** Settles a promise into a value or an error, attaching the handler at once. */
export function outcome<T>(pending: Promise<T>): Promise<T | Error> {
  return pending.then(
    (value) => value,
    (error: Error) => error,
  );
}

/** A latch: functions await `opened` until the test calls open(). */
export function latch(): { opened: Promise<void>; open: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { opened: promise, open: () => resolve() };
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

export function text(body: Uint8Array): string {
  return utf8Decoder.decode(body);
}
