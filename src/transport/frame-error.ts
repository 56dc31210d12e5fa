/** Which rule a malformed frame broke. */
export type FrameErrorCode =
  | "truncated"
  | "version"
  | "kind"
  | "flags"
  | "id"
  | "length"
  | "oversized"
  | "payload";

/** A frame that cannot be encoded or decoded; any decode failure is a protocol error. */
export class FrameError extends Error {
  override name = "FrameError";
  /** Which rule was broken. */
  readonly code: FrameErrorCode;

  constructor(code: FrameErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
