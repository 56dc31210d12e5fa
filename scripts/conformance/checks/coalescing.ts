// Messages holding several frames, and a frame filling a message alone.
import type { Frame } from "../../../src/transport/frame.ts";
import { DEFAULT_MAX_PAYLOAD, ERROR_CODES } from "../../../src/transport/protocol.ts";
import { type Check, type CheckContext, expect } from "../check.ts";
import { concat, describe, invoke, rawFrame, text } from "../frames.ts";
import { formatClose, type RawStream } from "../raw-stream.ts";

const BURST = 16;

/** Sends a burst of default-function invokes in one message and waits for all their answers. */
async function burst(context: CheckContext): Promise<RawStream> {
  const stream = await context.raw();
  const ids = Array.from({ length: BURST }, (_, i) => i + 1);
  stream.send(concat(...ids.map((id) => invoke(id, { body: `body-${id}` }))), ids);
  for (const id of ids) {
    const answer = await stream.waitFor(
      (f) => (f.kind === "result" || f.kind === "error") && f.id === id,
      `answer for id ${id} of ${BURST} sent in one message`,
    );
    expect(
      answer.kind === "result" && text(answer.body) === `body-${id}`,
      `id ${id} answered ${describe(answer)}, expected its body echoed`,
    );
  }
  stream.assertClean();
  return stream;
}

/** The exchange of one frame whose payload is exactly maxPayload, to the default function. */
async function maxFrame(
  context: CheckContext,
): Promise<{ ack?: Frame; answer?: Frame; why?: string }> {
  const stream = await context.raw();
  // Default function, empty content-type: one length byte, then the body fills the rest.
  const payload = new Uint8Array(DEFAULT_MAX_PAYLOAD).fill(0x61);
  payload[0] = 0;
  stream.send(rawFrame({ kind: 1, id: 1, payload }), [1]);
  try {
    const ack = await stream.waitFor(
      (f) => f.kind === "ack" && f.id === 1,
      "ack of the full frame",
    );
    const answer = await stream.waitFor(
      (f) => (f.kind === "result" || f.kind === "error") && f.id === 1,
      "answer to the full frame",
      5_000,
    );
    // A close right after the answer would mean the node took the frame for a violation.
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (stream.closeInfo)
      return { ack, answer, why: `stream closed ${formatClose(stream.closeInfo)}` };
    stream.assertClean();
    return { ack, answer };
  } catch (error) {
    return { why: (error as Error).message };
  }
}

const LARGE_BODY = 300 * 1024;

/** Checks of protocol.md "Connection" on messages and frames. */
export const coalescingChecks: Check[] = [
  {
    id: "C-COALESCE-1",
    description: `${BURST} invoke frames in one message are all acked and answered`,
    async run(context) {
      await burst(context);
    },
  },
  {
    id: "C-COALESCE-2",
    description: "the node coalesces: some message of its answers to a burst holds several frames",
    async run(context) {
      const stream = await burst(context);
      const most = Math.max(...stream.messages.map((frames) => frames.length));
      expect(most > 1, `${stream.messages.length} messages, each with one frame`);
    },
  },
  {
    id: "C-COALESCE-3",
    description: "one frame whose payload is maxPayload (1 MiB), filling a message, is accepted",
    timeoutMs: 8_000,
    async run(context) {
      const outcome = await context.scenario("max-frame", () => maxFrame(context));
      if (outcome.why) throw new Error(outcome.why);
    },
  },
  {
    id: "C-COALESCE-4",
    description: "the node's messages stay within 16 + maxPayload bytes when answers are large",
    async run(context) {
      const stream = await context.raw();
      const body = new Uint8Array(LARGE_BODY).fill(0x62);
      const ids = [1, 2, 3, 4];
      // Two messages of two invokes each, written together: answers worth 1.2 MiB become ready
      // at once, more than one message may hold.
      stream.send(concat(invoke(1, { body }), invoke(2, { body })), [1, 2]);
      stream.send(concat(invoke(3, { body }), invoke(4, { body })), [3, 4]);
      for (const id of ids) {
        await stream.waitFor((f) => f.kind === "result" && f.id === id, `result for id ${id}`);
      }
      stream.assertClean();
    },
  },
  {
    id: "C-LIMIT-2",
    description: "a result that would exceed maxPayload is sent as error code 1 instead",
    timeoutMs: 8_000,
    async run(context) {
      const outcome = await context.scenario("max-frame", () => maxFrame(context));
      if (!outcome.answer) throw new Error(outcome.why);
      expect(
        outcome.answer.kind === "error" && outcome.answer.code === ERROR_CODES.functionFailed,
        `echo of a ${DEFAULT_MAX_PAYLOAD - 1}-byte body answered ${describe(outcome.answer)}`,
      );
    },
  },
];
