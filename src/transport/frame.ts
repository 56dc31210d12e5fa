import { FrameError } from "./frame-error.ts";
import {
  ACK_FLAGS,
  DEFAULT_MAX_PAYLOAD,
  ERROR_CODES,
  type ErrorCode,
  type FrameKind,
  FUNCTION_NAME,
  HEADER_BYTES,
  INVOKE_FLAGS,
  KIND_CODES,
  MAX_ID,
  PROTOCOL_VERSION,
} from "./protocol.ts";
import { checkContentType, readContentType } from "./typed-body.ts";

/** Asks the node to run its function on a body. */
export interface InvokeFrame {
  kind: "invoke";
  /** Invocation id chosen by the gateway, 1..MAX_ID, unique per stream. */
  id: number;
  /** The function to run (the `named` flag); absent for the node's default function. */
  function?: string | undefined;
  /** Printable-ASCII media type of the body; "" when unknown. */
  contentType: string;
  /** Request body; a view into the received bytes when decoded. */
  body: Uint8Array;
}

/** The node accepted invocation `id`; from here on it may run. */
export interface AckFrame {
  kind: "ack";
  /** Id of the accepted invocation. */
  id: number;
  /** The function is idempotent (the `retryable` flag): a loss after this ack may be retried. */
  retryable?: boolean | undefined;
}

/** The function's answer to invocation `id`. */
export interface ResultFrame {
  kind: "result";
  /** Id of the answered invocation. */
  id: number;
  /** HTTP-style status, 200..599. */
  status: number;
  /** Printable-ASCII media type of the body; "" when unknown. */
  contentType: string;
  /** Response body; a view into the received bytes when decoded. */
  body: Uint8Array;
}

/** Invocation `id` failed (after its ack) or was rejected (instead of an ack). */
export interface ErrorFrame {
  kind: "error";
  /** Id of the failed invocation. */
  id: number;
  /** What went wrong; see ERROR_CODES. */
  code: ErrorCode;
  /** Human-readable reason, e.g. the message the function threw. */
  message: string;
}

/** Heartbeat request; the peer answers with a pong echoing id and timestamp. */
export interface PingFrame {
  kind: "ping";
  /** Sender's ping sequence number (not an invocation id). */
  id: number;
  /** Sender's clock in ms when sent, echoed back to measure round trips. */
  timestamp: number;
}

/** Heartbeat answer to a ping. */
export interface PongFrame {
  kind: "pong";
  /** The ping's id. */
  id: number;
  /** The ping's timestamp. */
  timestamp: number;
}

/** The node is draining: no new invocations on this stream; accepted ones still finish. */
export interface GoawayFrame {
  kind: "goaway";
  /** Always 0: goaway concerns the whole stream. */
  id: 0;
  /** Why the node is draining, for logs. */
  reason: string;
}

/** Any v1 frame. */
export type Frame =
  | InvokeFrame
  | AckFrame
  | ResultFrame
  | ErrorFrame
  | PingFrame
  | PongFrame
  | GoawayFrame;

export { FrameError, type FrameErrorCode } from "./frame-error.ts";

// Indexed by every byte value, so that reading an unknown kind is an ordinary miss.
const KIND_BY_CODE: readonly (FrameKind | undefined)[] = Array.from({ length: 256 }, (_, code) =>
  (Object.keys(KIND_CODES) as FrameKind[]).find((name) => KIND_CODES[name] === code),
);
/** The flag bits each kind code may carry; every other bit is malformed. */
const DEFINED_FLAGS: readonly number[] = Array.from({ length: 256 }, (_, code) =>
  code === KIND_CODES.invoke
    ? INVOKE_FLAGS.named
    : code === KIND_CODES.ack
      ? ACK_FLAGS.retryable
      : 0,
);
const VALID_ERROR_CODES: ReadonlySet<number> = new Set(Object.values(ERROR_CODES));
const TWO_32 = 2 ** 32;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Encodes a frame into one new buffer; throws FrameError for a field the protocol forbids. */
export function encodeFrame(
  frame: Frame,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): Uint8Array<ArrayBuffer> {
  checkId(frame);
  switch (frame.kind) {
    case "invoke": {
      const name = frame.function;
      const out = new Uint8Array(invokeSize(frame.contentType, frame.body, maxPayload, name));
      writeInvoke(out, 0, frame.id, frame.contentType, frame.body, name);
      return out;
    }
    case "result": {
      if (!Number.isInteger(frame.status) || frame.status < 200 || frame.status > 599) {
        throw new FrameError("payload", `status ${frame.status} is outside 200..599`);
      }
      const out = resultWithBody(frame, frame.contentType, frame.body, maxPayload);
      out[HEADER_BYTES] = frame.status >> 8;
      out[HEADER_BYTES + 1] = frame.status & 0xff;
      return out;
    }
    case "ack": {
      const out = header(frame, 0, maxPayload);
      if (frame.retryable) out[3] = ACK_FLAGS.retryable;
      return out;
    }
    case "error": {
      if (!VALID_ERROR_CODES.has(frame.code)) {
        throw new FrameError("payload", `unknown error code ${frame.code}`);
      }
      const message = utf8.encode(frame.message);
      const out = header(frame, 2 + message.byteLength, maxPayload);
      view(out).setUint16(HEADER_BYTES, frame.code);
      out.set(message, HEADER_BYTES + 2);
      return out;
    }
    case "ping":
    case "pong": {
      if (!Number.isFinite(frame.timestamp)) {
        throw new FrameError("payload", "heartbeat timestamp must be finite");
      }
      const out = header(frame, 8, maxPayload);
      view(out).setFloat64(HEADER_BYTES, frame.timestamp);
      return out;
    }
    case "goaway": {
      const reason = utf8.encode(frame.reason);
      const out = header(frame, reason.byteLength, maxPayload);
      out.set(reason, HEADER_BYTES);
      return out;
    }
  }
}

/**
 * Bytes of the invoke frame that carries `contentType` and `body` (to the function `name`, or
 * the default one); throws FrameError for one the protocol cannot carry. With writeInvoke, a
 * sender encodes into a buffer of its own.
 */
export function invokeSize(
  contentType: string,
  body: Uint8Array,
  maxPayload: number,
  name?: string,
): number {
  checkWrittenContentType(contentType);
  if (name !== undefined) checkFunctionName(name);
  const payloadBytes = nameBytes(name) + 1 + contentType.length + body.byteLength;
  checkPayloadBytes(payloadBytes, maxPayload);
  return HEADER_BYTES + payloadBytes;
}

/** Writes an invoke frame at `at` of `out`, in the invokeSize bytes it takes; checks the id. */
export function writeInvoke(
  out: Uint8Array,
  at: number,
  id: number,
  contentType: string,
  body: Uint8Array,
  name?: string,
): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_ID) {
    throw new FrameError("id", `invoke id ${id} is not an integer in 1..2^53 - 1`);
  }
  const named = nameBytes(name);
  writeHeader(out, at, KIND_CODES.invoke, id, named + 1 + contentType.length + body.byteLength);
  let from = at + HEADER_BYTES;
  if (name !== undefined) {
    out[at + 3] = INVOKE_FLAGS.named;
    out[from++] = name.length;
    for (let i = 0; i < name.length; i++) out[from++] = name.charCodeAt(i);
  }
  writeTypedBody(out, from, contentType, body);
}

/** Bytes a function name takes in an invoke payload: none for the default function. */
function nameBytes(name: string | undefined): number {
  return name === undefined ? 0 : 1 + name.length;
}

/** Throws the FrameError a function name the protocol cannot carry earns. */
function checkFunctionName(name: string): void {
  if (!FUNCTION_NAME.test(name)) {
    throw new FrameError("payload", `function name ${JSON.stringify(name)} is not allowed`);
  }
}

/**
 * Decodes a message holding exactly one frame, strictly: anything but a well-formed v1 frame
 * throws FrameError. Bodies are views into `bytes`, so the caller must not reuse that buffer.
 */
export function decodeFrame(bytes: Uint8Array, maxPayload = DEFAULT_MAX_PAYLOAD): Frame {
  const { frame, end } = readFrame(bytes, 0, maxPayload);
  if (end !== bytes.byteLength) {
    throw new FrameError("length", `${bytes.byteLength - end} bytes follow the frame`);
  }
  return frame;
}

/** A frame read from a message, and the offset just past it. */
export interface ReadFrame {
  /** The decoded frame. */
  frame: Frame;
  /** Offset of the next frame in the message. */
  end: number;
}

/**
 * Decodes the frame starting at `offset` of a message that may hold several frames back to
 * back; throws FrameError if it is malformed or runs past the end of the message.
 */
export function readFrame(
  message: Uint8Array,
  offset: number,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): ReadFrame {
  return { frame: frameAt(message, offset, maxPayload), end: frameEnd(message, offset) };
}

/**
 * The end of the frame at `offset`, once frameAt has read it: where the next one starts. A
 * receiver's loop uses the two rather than readFrame, sparing an object per frame.
 */
export function frameEnd(message: Uint8Array, offset: number): number {
  return offset + HEADER_BYTES + u32(message, offset + 12);
}

/** readFrame's frame alone; see frameEnd. */
export function frameAt(
  message: Uint8Array,
  offset: number,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): Frame {
  const available = message.byteLength - offset;
  if (available < HEADER_BYTES) {
    throw new FrameError("truncated", `${available} bytes are too few for a frame header`);
  }
  // Byte by byte rather than through a DataView: the header is read for every frame received.
  const version = message[offset];
  if (version !== PROTOCOL_VERSION) {
    throw new FrameError("version", `unsupported protocol version ${version}`);
  }
  const kindCode = message[offset + 1] as number;
  const kind = KIND_BY_CODE[kindCode];
  if (kind === undefined) throw new FrameError("kind", `unknown frame kind ${kindCode}`);
  const flags = ((message[offset + 2] as number) << 8) | (message[offset + 3] as number);
  if (flags !== 0 && (flags & ~(DEFINED_FLAGS[kindCode] as number)) !== 0) {
    throw new FrameError("flags", `flags 0x${flags.toString(16)} are not defined for ${kind}`);
  }
  const high = u32(message, offset + 4);
  // Ids above 2^53 - 1 would lose precision as numbers, so they are malformed.
  if (high > 0x1f_ffff) throw new FrameError("id", "id exceeds 2^53 - 1");
  const id = high * TWO_32 + u32(message, offset + 8);
  const length = u32(message, offset + 12);
  if (length > maxPayload) {
    throw new FrameError("oversized", `payload of ${length} bytes exceeds ${maxPayload}`);
  }
  if (HEADER_BYTES + length > available) {
    throw new FrameError(
      "length",
      `header declares ${length} payload bytes, message has ${available - HEADER_BYTES} left`,
    );
  }
  const start = offset + HEADER_BYTES;
  const end = start + length;
  const frame = decodePayload(kind, id, flags, message, start, end);
  checkId(frame);
  return frame;
}

/** The payload of a frame, `message[start..end)`; only bodies and texts become views of it. */
function decodePayload(
  kind: FrameKind,
  id: number,
  flags: number,
  message: Uint8Array,
  start: number,
  end: number,
): Frame {
  const length = end - start;
  switch (kind) {
    case "invoke": {
      if (flags === 0) {
        const contentType = readContentType(message, start, end);
        const body = message.subarray(start + 1 + contentType.length, end);
        return { kind, id, contentType, body };
      }
      const name = readFunctionName(message, start, end);
      const typed = start + 1 + name.length;
      const contentType = readContentType(message, typed, end);
      const body = message.subarray(typed + 1 + contentType.length, end);
      return { kind, id, function: name, contentType, body };
    }
    case "result": {
      if (length < 2) throw new FrameError("payload", "result payload lacks a status");
      const status = u16(message, start);
      if (status < 200 || status > 599) {
        throw new FrameError("payload", `status ${status} is outside 200..599`);
      }
      const contentType = readContentType(message, start + 2, end);
      const body = message.subarray(start + 3 + contentType.length, end);
      return { kind, id, status, contentType, body };
    }
    case "ack":
      if (length !== 0) throw new FrameError("payload", "ack carries no payload");
      return flags === 0 ? { kind, id } : { kind, id, retryable: true };
    case "error": {
      if (length < 2) throw new FrameError("payload", "error payload lacks a code");
      const code = u16(message, start);
      if (!VALID_ERROR_CODES.has(code))
        throw new FrameError("payload", `unknown error code ${code}`);
      return { kind, id, code: code as ErrorCode, message: text(message.subarray(start + 2, end)) };
    }
    case "ping":
    case "pong": {
      if (length !== 8) throw new FrameError("payload", `${kind} payload must be 8 bytes`);
      const timestamp = view(message.subarray(start, end)).getFloat64(0);
      if (!Number.isFinite(timestamp))
        throw new FrameError("payload", `${kind} timestamp is not finite`);
      return { kind, id, timestamp };
    }
    case "goaway":
      if (id !== 0) throw new FrameError("id", "goaway id must be 0");
      return { kind, id, reason: text(message.subarray(start, end)) };
  }
}

/** The function name of a named invoke payload starting at `from` (its length byte), checked. */
function readFunctionName(message: Uint8Array, from: number, end: number): string {
  if (end < from + 1) throw new FrameError("payload", "payload lacks a function name length");
  const length = message[from] as number;
  if (end < from + 1 + length)
    throw new FrameError("payload", "function name runs past the payload");
  let name = "";
  for (let i = from + 1; i < from + 1 + length; i++)
    name += String.fromCharCode(message[i] as number);
  checkFunctionName(name);
  return name;
}

/** Invocation-level frames need an id of 1 or more; goaway needs 0; heartbeats take any id. */
function checkId(frame: Frame): void {
  const { id } = frame;
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new FrameError("id", `id ${id} is not an integer in 0..2^53 - 1`);
  }
  if (frame.kind === "goaway") {
    if (id !== 0) throw new FrameError("id", "goaway id must be 0");
  } else if (id === 0 && frame.kind !== "ping" && frame.kind !== "pong") {
    throw new FrameError("id", `${frame.kind} id must be 1 or more`);
  }
}

/** Allocates the whole frame and writes its header; the caller fills the payload. */
function header(frame: Frame, payloadBytes: number, maxPayload: number): Uint8Array<ArrayBuffer> {
  checkPayloadBytes(payloadBytes, maxPayload);
  const out = new Uint8Array(HEADER_BYTES + payloadBytes);
  writeHeader(out, 0, KIND_CODES[frame.kind], frame.id, payloadBytes);
  return out;
}

function checkPayloadBytes(payloadBytes: number, maxPayload: number): void {
  if (payloadBytes > maxPayload) {
    throw new FrameError("oversized", `payload of ${payloadBytes} bytes exceeds ${maxPayload}`);
  }
}

function writeHeader(
  out: Uint8Array,
  at: number,
  kindCode: number,
  id: number,
  payloadBytes: number,
): void {
  out[at] = PROTOCOL_VERSION;
  out[at + 1] = kindCode;
  out[at + 2] = 0;
  out[at + 3] = 0;
  putU32(out, at + 4, Math.floor(id / TWO_32));
  putU32(out, at + 8, id % TWO_32);
  putU32(out, at + 12, payloadBytes);
}

/** A result frame: the header, the status, then the typed body. */
function resultWithBody(
  frame: ResultFrame,
  contentType: string,
  body: Uint8Array,
  maxPayload: number,
): Uint8Array<ArrayBuffer> {
  checkWrittenContentType(contentType);
  const out = header(frame, 2 + 1 + contentType.length + body.byteLength, maxPayload);
  writeTypedBody(out, HEADER_BYTES + 2, contentType, body);
  return out;
}

/** Writes `[content-type length][content-type][body]` from `at`; the content type is checked. */
function writeTypedBody(out: Uint8Array, at: number, contentType: string, body: Uint8Array): void {
  out[at++] = contentType.length;
  for (let i = 0; i < contentType.length; i++) out[at++] = contentType.charCodeAt(i);
  out.set(body, at);
}

/** The last content type written, known to be valid. */
let lastWritten = "";

/** Most frames of a stream carry the content type of the one before: it is checked once. */
function checkWrittenContentType(contentType: string): void {
  if (contentType === lastWritten) return;
  checkContentType(contentType);
  lastWritten = contentType;
}

function u16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
}

function u32(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] as number) << 24) |
      ((bytes[at + 1] as number) << 16) |
      ((bytes[at + 2] as number) << 8) |
      (bytes[at + 3] as number)) >>>
    0
  );
}

function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

function text(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new FrameError("payload", "text is not valid UTF-8");
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
