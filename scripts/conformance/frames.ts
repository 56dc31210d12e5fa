// Building frames the suite sends, including broken ones, and reading what the node sends.
import { encodeFrame, type Frame, FrameError, readFrame } from "../../src/transport/frame.ts";
import { DEFAULT_MAX_PAYLOAD, HEADER_BYTES } from "../../src/transport/protocol.ts";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** What an invoke carries besides its id. */
export interface InvokeSpec {
  /** The function's name; absent for the default function. */
  fn?: string;
  /** The body, as text (UTF-8) or bytes. */
  body?: string | Uint8Array;
  /** Media type of the body; default "text/plain". */
  contentType?: string;
}

/** An invoke frame for `id`, encoded by the gateway's own encoder. */
export function invoke(id: number, spec: InvokeSpec = {}): Uint8Array<ArrayBuffer> {
  const body =
    typeof spec.body === "string" ? utf8.encode(spec.body) : (spec.body ?? new Uint8Array());
  return encodeFrame({
    kind: "invoke",
    id,
    function: spec.fn,
    contentType: spec.contentType ?? "text/plain",
    body,
  });
}

/** A ping frame with the gateway's encoder. */
export function ping(id: number, timestamp: number): Uint8Array<ArrayBuffer> {
  return encodeFrame({ kind: "ping", id, timestamp });
}

/** Frames back to back in one message. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** A copy of `frame` with bytes at `offset` replaced: the way to forge what encodeFrame refuses. */
export function patched(
  frame: Uint8Array,
  offset: number,
  ...bytes: number[]
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(frame);
  out.set(bytes, offset);
  return out;
}

/** A header (16 bytes) with arbitrary fields followed by `payload`; the length field is given. */
export function rawFrame(fields: {
  version?: number;
  kind: number;
  flags?: number;
  id: bigint | number;
  length?: number;
  payload?: Uint8Array;
}): Uint8Array<ArrayBuffer> {
  const payload = fields.payload ?? new Uint8Array();
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, fields.version ?? 1);
  view.setUint8(1, fields.kind);
  view.setUint16(2, fields.flags ?? 0);
  view.setBigUint64(4, BigInt(fields.id));
  view.setUint32(12, fields.length ?? payload.byteLength);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** The frames of one received message, and why decoding stopped early if it did. */
export interface DecodedMessage {
  /** Frames decoded before any error. */
  frames: Frame[];
  /** Set when the message held a frame the gateway's decoder rejects. */
  error?: string;
}

/** Splits a message into frames with the gateway's strict decoder. */
export function decodeMessage(
  message: Uint8Array,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): DecodedMessage {
  const frames: Frame[] = [];
  let offset = 0;
  try {
    do {
      const read = readFrame(message, offset, maxPayload);
      frames.push(read.frame);
      offset = read.end;
    } while (offset < message.byteLength);
  } catch (error) {
    const why = error instanceof FrameError ? `${error.code}: ${error.message}` : String(error);
    return { frames, error: why };
  }
  return { frames };
}

/** A body as text. */
export function text(body: Uint8Array): string {
  return utf8Decoder.decode(body);
}

/** A body that is a decimal count (what `seq` and `aborted` answer), or undefined. */
export function count(body: Uint8Array): number | undefined {
  const digits = text(body).trim();
  return /^\d{1,15}$/.test(digits) ? Number(digits) : undefined;
}

/** A frame in a short human form, for failure messages. */
export function describe(frame: Frame): string {
  switch (frame.kind) {
    case "result":
      return `result#${frame.id} ${frame.status} ${JSON.stringify(text(frame.body).slice(0, 80))}`;
    case "error":
      return `error#${frame.id} code ${frame.code} ${JSON.stringify(frame.message.slice(0, 80))}`;
    case "ack":
      return `ack#${frame.id}${frame.retryable ? " retryable" : ""}`;
    default:
      return `${frame.kind}#${frame.id}`;
  }
}
