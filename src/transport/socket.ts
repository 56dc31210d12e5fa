/** Callbacks of a StreamSocket subscription. */
export interface SocketListener {
  /** A whole message: bytes for a binary message, a string for a text one. */
  message(data: Uint8Array | string): void;
  /** The socket closed, by either side; no event follows. */
  close(code: number, reason: string): void;
  /** The socket failed; a close usually follows, but the stream does not wait for it. */
  error(cause: unknown): void;
}

/**
 * The minimal socket a NodeStream needs, so that Workers' and Node's WebSockets (or a test
 * double) can carry it. A socket handed to the stream is already open.
 */
export interface StreamSocket {
  /** Sends one binary message. */
  send(bytes: Uint8Array<ArrayBuffer>): void;
  /** Starts an orderly close. */
  close(code: number, reason: string): void;
  /**
   * Subscribes the single listener; events that arrived before are delivered to it first, in
   * order. Returns an unsubscribe function, after which no callback runs.
   */
  listen(listener: SocketListener): () => void;
}

/** Opens a socket to the node; aborting `signal` gives up and must not leak the socket. */
export type Connect = (signal: AbortSignal) => Promise<StreamSocket>;
