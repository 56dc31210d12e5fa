import type { StreamSocket } from "./socket.ts";

/** Reasons a WebSocket close may carry at most 123 bytes of UTF-8. */
const MAX_CLOSE_REASON = 123;
const utf8 = new TextEncoder();

/** Closes without throwing: the socket may already be closing, or the reason too long. */
export function safeClose(socket: StreamSocket, code: number, reason: string): void {
  let short = reason.slice(0, MAX_CLOSE_REASON);
  while (utf8.encode(short).byteLength > MAX_CLOSE_REASON) short = short.slice(0, -1);
  try {
    socket.close(code, short);
  } catch {
    // Nothing more can be done for a socket that refuses to close; it is dropped either way.
  }
}
