// The shape shared by every "this message must close the stream" check.
import type { Check, CheckContext } from "../check.ts";
import { type CloseInfo, formatClose } from "../raw-stream.ts";

/** A check that sends `message` on a fresh stream and expects a close with one of `codes`. */
export function violation(
  id: string,
  description: string,
  message: () => Uint8Array | string,
  codes: readonly number[] = [4000],
): Check {
  return {
    id,
    description,
    async run(context) {
      await expectClose(context, message(), codes);
    },
  };
}

/** Sends `message` on a new stream to the shared node and waits for a close in `codes`. */
export async function expectClose(
  context: CheckContext,
  message: Uint8Array | string,
  codes: readonly number[],
): Promise<CloseInfo> {
  const stream = await context.raw();
  if (typeof message === "string") stream.sendText(message);
  else stream.send(message);
  const info = await stream.waitClose(`expected close ${codes.join(" or ")}`);
  if (!codes.includes(info.code)) {
    throw new Error(`closed with ${formatClose(info)}, expected ${codes.join(" or ")}`);
  }
  return info;
}
