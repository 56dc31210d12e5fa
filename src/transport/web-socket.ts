import { SUBPROTOCOL } from "./protocol.ts";
import type { SocketListener, StreamSocket } from "./socket.ts";

type Delivery = (listener: SocketListener) => void;

/**
 * Adapts a WHATWG WebSocket (Workers' or Node 24's global) to a StreamSocket. Events are
 * buffered from the moment of adaptation so none is lost before the stream subscribes.
 */
export function adaptWebSocket(ws: WebSocket): StreamSocket {
  // The standard default is "blob", which cannot be read synchronously; workerd follows it on
  // recent compatibility dates.
  ws.binaryType = "arraybuffer";
  let listener: SocketListener | null = null;
  let backlog: Delivery[] | null = [];
  const deliver = (delivery: Delivery) => {
    if (backlog) backlog.push(delivery);
    else if (listener) delivery(listener);
  };
  ws.addEventListener("message", (event) => {
    const data = messageData(event.data);
    deliver((l) => l.message(data));
  });
  ws.addEventListener("close", (event) => {
    const { code, reason } = event;
    deliver((l) => l.close(code, reason));
  });
  ws.addEventListener("error", (event) => {
    deliver((l) => l.error(event));
  });
  return {
    send: (bytes) => ws.send(bytes),
    close: (code, reason) => ws.close(code, reason),
    listen(next) {
      listener = next;
      // Flushing in a microtask keeps the subscriber's own setup free of re-entrant calls.
      queueMicrotask(() => {
        const pending = backlog ?? [];
        backlog = null;
        for (const delivery of pending) {
          if (listener) delivery(listener);
        }
      });
      return () => {
        listener = null;
        backlog = null;
      };
    },
  };
}

/** Options of {@link connectWebSocket}. */
export interface ConnectWebSocketOptions {
  /** Aborting gives up on the connection attempt and closes the socket. */
  signal?: AbortSignal;
}

/**
 * Opens a stream with the global WebSocket constructor (Node 24, Workers' outbound
 * WebSocket) and resolves once it is open with the roundhouse subprotocol selected.
 */
export function connectWebSocket(
  url: string,
  options: ConnectWebSocketOptions = {},
): Promise<StreamSocket> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const ws = new WebSocket(url, SUBPROTOCOL);
    ws.binaryType = "arraybuffer";
    const socket = adaptWebSocket(ws);
    const fail = (error: unknown) => {
      cleanup();
      ws.close();
      reject(error);
    };
    const onOpen = () => {
      if (ws.protocol !== SUBPROTOCOL) {
        fail(new Error(`node selected subprotocol "${ws.protocol}", not ${SUBPROTOCOL}`));
        return;
      }
      cleanup();
      resolve(socket);
    };
    const onClose = (event: CloseEvent) => {
      fail(new Error(`stream closed while connecting (${event.code} ${event.reason})`));
    };
    const onAbort = () => fail(signal?.reason);
    const cleanup = () => {
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("close", onClose);
      signal?.removeEventListener("abort", onAbort);
    };
    ws.addEventListener("open", onOpen);
    ws.addEventListener("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Binary messages become byte views; anything else is handed on as text (a protocol error). */
function messageData(data: unknown): Uint8Array | string {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // Another realm's ArrayBuffer (a Durable Object's socket, say) fails instanceof; its tag does not.
  if (Object.prototype.toString.call(data) === "[object ArrayBuffer]")
    return new Uint8Array(data as ArrayBuffer);
  return typeof data === "string"
    ? data
    : `[unsupported message data: ${Object.prototype.toString.call(data)}]`;
}
