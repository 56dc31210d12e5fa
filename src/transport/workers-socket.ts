import { SUBPROTOCOL } from "./protocol.ts";
import type { StreamSocket } from "./socket.ts";
import { adaptWebSocket } from "./web-socket.ts";

/** A fetch function: the global one, or a service binding's. */
export type UpgradeFetch = (url: string, init: RequestInit) => Promise<Response>;

/** Options of {@link connectWorkersSocket}. */
export interface WorkersSocketOptions {
  /** Fetch used for the upgrade request; the global fetch by default. */
  fetch?: UpgradeFetch;
  /** Aborting gives up on the upgrade request. */
  signal?: AbortSignal;
}

/** Workers' response to an upgrade carries the client end of the socket, to be accepted. */
type AcceptableSocket = WebSocket & { accept(): void };

/**
 * Opens a stream from a Worker or Durable Object: Workers make outbound WebSockets with a
 * fetch carrying `Upgrade: websocket`, then accept the socket found on the response.
 */
export async function connectWorkersSocket(
  url: string,
  options: WorkersSocketOptions = {},
): Promise<StreamSocket> {
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  // Workers' fetch speaks http(s) only; the upgrade header makes it a WebSocket handshake.
  const target = url.replace(/^ws(s?):/i, "http$1:");
  const init: RequestInit = {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": SUBPROTOCOL },
  };
  if (options.signal) init.signal = options.signal;
  const response = await doFetch(target, init);
  const ws = (response as { webSocket?: AcceptableSocket | null }).webSocket;
  if (response.status !== 101 || !ws) {
    throw new Error(`node refused the stream upgrade: HTTP ${response.status}`);
  }
  const selected = response.headers.get("Sec-WebSocket-Protocol");
  // Subscribing before accept() means no early frame (e.g. a goaway) can be missed.
  const socket = adaptWebSocket(ws);
  ws.accept();
  if (selected !== null && selected !== SUBPROTOCOL) {
    ws.close(1000, "wrong subprotocol");
    throw new Error(`node selected subprotocol "${selected}", not ${SUBPROTOCOL}`);
  }
  return socket;
}
