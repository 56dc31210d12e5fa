import { FrameError } from "./frame-error.ts";
import { MAX_CONTENT_TYPE } from "./protocol.ts";

// The typed body of invoke and result frames: a content-type of printable ASCII, then the bytes.

/** The last content type read: most frames repeat it, and comparing beats building a string. */
let lastRead = "";

/** The content type of a typed body starting at `from` (its length byte), checked. */
export function readContentType(message: Uint8Array, from: number, end: number): string {
  if (end < from + 1) throw new FrameError("payload", "payload lacks a content-type length");
  const length = message[from] as number;
  const start = from + 1;
  if (end < start + length) throw new FrameError("payload", "content-type runs past the payload");
  if (lastRead.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (message[start + i] !== lastRead.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) return lastRead;
  }
  let contentType = "";
  for (let i = start; i < start + length; i++) {
    const byte = message[i] as number;
    if (byte < 0x20 || byte > 0x7e) {
      throw new FrameError("payload", "content-type is not printable ASCII");
    }
    contentType += String.fromCharCode(byte);
  }
  lastRead = contentType;
  return contentType;
}

/** Throws the FrameError a content-type that cannot travel earns. */
export function checkContentType(contentType: string): void {
  const problem = contentTypeProblem(contentType);
  if (problem) throw new FrameError("payload", problem);
}

/** Why a content-type cannot travel in a frame (at most 255 bytes of printable ASCII), if so. */
export function contentTypeProblem(contentType: string): string | undefined {
  if (contentType.length > MAX_CONTENT_TYPE) {
    return `content-type longer than ${MAX_CONTENT_TYPE} bytes`;
  }
  for (let i = 0; i < contentType.length; i++) {
    const code = contentType.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return "content-type is not printable ASCII";
  }
  return undefined;
}
