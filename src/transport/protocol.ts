/** Protocol constants shared by the gateway's client and the node's server (see docs/protocol.md). */

/** Wire version carried in byte 0 of every frame. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol both sides must agree on during the upgrade. */
export const SUBPROTOCOL = "roundhouse.v1";

/** Path of the stream endpoint on a node unless configured otherwise. */
export const DEFAULT_STREAM_PATH = "/_roundhouse/stream";

/** Bytes in the fixed frame header. */
export const HEADER_BYTES = 16;

/** Largest payload accepted unless both sides are configured otherwise: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Largest frame id: ids must stay exact in a JavaScript number. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

/** Longest content-type, in bytes (its length is one byte on the wire). */
export const MAX_CONTENT_TYPE = 255;

/** Longest function name, in bytes (its length is one byte on the wire, capped lower). */
export const MAX_FUNCTION_NAME = 64;

/** What a function name must look like: it travels as ASCII and appears in URLs and logs. */
export const FUNCTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Flag bits of an invoke frame (bytes 2-3). */
export const INVOKE_FLAGS = {
  /** The payload starts with the function's name (`u8` length, then the name). */
  named: 0x0001,
} as const;

/** Flag bits of an ack frame (bytes 2-3). */
export const ACK_FLAGS = {
  /** The accepted function is idempotent: after a loss past this ack it may run elsewhere. */
  retryable: 0x0001,
} as const;

/** Frame kind codes (byte 1 of the header). */
export const KIND_CODES = {
  invoke: 1,
  ack: 2,
  result: 3,
  error: 4,
  ping: 5,
  pong: 6,
  goaway: 7,
} as const;

/** Name of a frame kind. */
export type FrameKind = keyof typeof KIND_CODES;

/** Codes carried by an error frame. */
export const ERROR_CODES = {
  /** The function was accepted (acked) and then failed; it may have had effects. */
  functionFailed: 1,
  /** Sent instead of an ack: the node did not accept the invocation and never ran it. */
  rejected: 2,
} as const;

/** Value of an error frame's code. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * Close codes. Application codes (4000-4999) are used for protocol failures because a
 * WHATWG WebSocket client may only close with 1000 or 3000-4999.
 */
export const CLOSE_CODES = {
  /** Orderly close: a drained stream, or a side shutting down cleanly. */
  normal: 1000,
  /** The node is going away without draining. */
  goingAway: 1001,
  /** A frame broke the protocol: bad header, unknown kind, a kind or order not allowed. */
  protocolError: 4000,
  /** A text message arrived; the protocol is binary only. */
  unsupportedData: 4001,
  /** A frame's payload exceeded the receiver's limit. */
  tooLarge: 4002,
  /** No frame arrived within the heartbeat timeout. */
  heartbeatTimeout: 4003,
  /** The closing side failed internally (a bug, or a send that threw). */
  internalError: 4004,
} as const;
