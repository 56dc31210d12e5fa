import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A server could not bind its address; names the address so callers can say which port is taken. */
export class ListenError extends Error {
  override name = "ListenError";
  /** System error code, e.g. EADDRINUSE. */
  readonly code: string | undefined;
  /** Host the server tried to bind. */
  readonly host: string;
  /** Port the server tried to bind (0 for an ephemeral one). */
  readonly port: number;

  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const reason = cause.code === "EADDRINUSE" ? "address already in use" : cause.message;
    super(`cannot listen on ${host}:${port}: ${reason}`, { cause });
    this.code = cause.code;
    this.host = host;
    this.port = port;
  }
}

/** Binds `server` and resolves with the bound port, or rejects with a ListenError. */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(new ListenError(host, port, error));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ host, port });
  });
}

/**
 * Keeps the set of open sockets, including ones with no request yet, which
 * closeAllConnections does not see.
 */
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Stops listening and destroys every socket, so idle keep-alive or hung
 * connections cannot hold the close open. Resolves after every socket's close
 * event, so whatever the requests on them account on close has happened.
 */
export async function shutdown(server: Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (server.listening) server.close(() => resolve());
    else resolve();
  });
  const socketsClosed = [...sockets].map((socket) => {
    const gone = new Promise<void>((resolve) => {
      if (socket.closed) resolve();
      else socket.once("close", () => resolve());
    });
    socket.destroy();
    return gone;
  });
  server.closeAllConnections();
  await Promise.all([closed, ...socketsClosed]);
}

/** Formats an http URL for host and port, bracketing IPv6 literals. */
export function httpUrl(host: string, port: number): string {
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
