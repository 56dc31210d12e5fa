// Frames that do not decode, kinds the node never accepts, order violations: each closes the stream.
import { encodeFrame } from "../../../src/transport/frame.ts";
import { DEFAULT_MAX_PAYLOAD } from "../../../src/transport/protocol.ts";
import { type Check, expect } from "../check.ts";
import { concat, describe, invoke, patched, ping, rawFrame } from "../frames.ts";
import { formatClose } from "../raw-stream.ts";
import { expectClose, violation } from "./violation.ts";

const ascii = new TextEncoder();

/** Checks of protocol.md "Protocol errors and close codes". */
export const malformedChecks: Check[] = [
  violation("C-KIND-1", "an unknown frame kind (8) closes the stream with 4000", () =>
    rawFrame({ kind: 8, id: 1 }),
  ),
  violation("C-FLAGS-1", "an undefined invoke flag bit (0x0002) closes the stream with 4000", () =>
    patched(invoke(1, { body: "x" }), 3, 0x02),
  ),
  violation(
    "C-FLAGS-2",
    "a flag bit on a kind that defines none (ping 0x0001) closes with 4000",
    () => patched(ping(1, 1), 3, 0x01),
  ),
  violation("C-HEADER-1", "a message shorter than a header (10 bytes) closes with 4000", () =>
    ping(1, 1).subarray(0, 10),
  ),
  violation("C-HEADER-2", "an empty message closes the stream with 4000", () => new Uint8Array()),
  violation("C-LENGTH-1", "a length running past the end of the message closes with 4000", () =>
    ping(1, 1).subarray(0, 20),
  ),
  violation("C-ID-1", "an invoke with id 0 closes the stream with 4000", () =>
    rawFrame({ kind: 1, id: 0, payload: new Uint8Array([0]) }),
  ),
  violation("C-ID-2", "an invoke with id 2^53 (above 2^53 - 1) closes with 4000", () =>
    rawFrame({ kind: 1, id: 2n ** 53n, payload: new Uint8Array([0]) }),
  ),
  {
    id: "C-ID-3",
    description: "an invoke with id 2^53 - 1 is acked and answered",
    async run(context) {
      const stream = await context.raw();
      const id = Number.MAX_SAFE_INTEGER;
      stream.send(invoke(id, { body: "max id" }), [id]);
      await stream.waitFor((f) => f.kind === "ack" && f.id === id, "ack for id 2^53 - 1");
      await stream.waitFor((f) => f.kind === "result" && f.id === id, "result for id 2^53 - 1");
      stream.assertClean();
    },
  },
  violation(
    "C-PAYLOAD-1",
    "an invoke whose content-type runs past its payload closes with 4000",
    () => rawFrame({ kind: 1, id: 1, payload: new Uint8Array([200, 0x61, 0x62]) }),
  ),
  violation(
    "C-PAYLOAD-2",
    "a non-printable content-type byte (0x07) closes the stream with 4000",
    () => rawFrame({ kind: 1, id: 1, payload: new Uint8Array([3, 0x61, 0x07, 0x62, 0x78]) }),
  ),
  violation("C-PAYLOAD-3", "a ping whose payload is not 8 bytes closes the stream with 4000", () =>
    rawFrame({ kind: 5, id: 1, payload: new Uint8Array(4) }),
  ),
  violation("C-NAME-1", "a named invoke with a disallowed name (-bad) closes with 4000", () =>
    rawFrame({
      kind: 1,
      flags: 1,
      id: 1,
      payload: concat(new Uint8Array([4]), ascii.encode("-bad"), new Uint8Array([0])),
    }),
  ),
  violation("C-NAME-2", "a named invoke with an empty name closes the stream with 4000", () =>
    rawFrame({ kind: 1, flags: 1, id: 1, payload: new Uint8Array([0, 0]) }),
  ),
  {
    id: "C-LIMIT-1",
    description: "a frame whose payload exceeds maxPayload closes with 4002 (or 1009)",
    async run(context) {
      const payload = new Uint8Array(DEFAULT_MAX_PAYLOAD + 1);
      await expectClose(context, rawFrame({ kind: 1, id: 1, payload }), [4002, 1009]);
    },
  },
  {
    id: "C-KIND-2",
    description: "an ack, result, error or goaway from the gateway closes the stream with 4000",
    async run(context) {
      const frames = {
        ack: encodeFrame({ kind: "ack", id: 1 }),
        result: encodeFrame({
          kind: "result",
          id: 1,
          status: 200,
          contentType: "",
          body: new Uint8Array(),
        }),
        error: encodeFrame({ kind: "error", id: 1, code: 1, message: "x" }),
        goaway: encodeFrame({ kind: "goaway", id: 0, reason: "" }),
      };
      for (const [kind, frame] of Object.entries(frames)) {
        try {
          await expectClose(context, frame, [4000]);
        } catch (error) {
          throw new Error(`${kind}: ${(error as Error).message}`);
        }
      }
    },
  },
  {
    id: "C-DUP-1",
    description: "an invoke whose id is still in flight closes the stream with 4000",
    async run(context) {
      const stream = await context.raw();
      stream.send(invoke(1, { fn: "sleep", body: "1000" }), [1]);
      await stream.waitFor((f) => f.kind === "ack" && f.id === 1, "ack of sleep 1000");
      const early = stream.frames.find(
        (f) => (f.kind === "result" || f.kind === "error") && f.id === 1,
      );
      expect(
        early === undefined,
        `sleep 1000 answered at once (${early && describe(early)}): id 1 is not in flight`,
      );
      stream.send(invoke(1, { fn: "echo", body: "again" }));
      const info = await stream.waitClose("after a second invoke with in-flight id 1");
      expect(info.code === 4000, `closed with ${formatClose(info)}, expected 4000`);
    },
  },
  {
    id: "C-PARTIAL-1",
    description: "frames before a bad frame in a message are processed, none after it",
    async run(context) {
      const stream = await context.raw();
      const message = concat(
        invoke(1, { body: "one" }),
        invoke(2, { body: "two" }),
        rawFrame({ kind: 8, id: 3 }),
        invoke(4, { body: "four" }),
      );
      stream.send(message, [1, 2, 4]);
      const info = await stream.waitClose("after a message with a bad third frame");
      expect(info.code === 4000, `closed with ${formatClose(info)}, expected 4000`);
      for (const id of [1, 2]) {
        expect(
          stream.frames.some((f) => f.kind === "ack" && f.id === id),
          `no ack for id ${id}, which came before the bad frame`,
        );
      }
      const after = stream.frames.find((f) => "id" in f && f.id === 4 && f.kind !== "ping");
      expect(
        after === undefined,
        `the frame after the bad one was processed: ${after && describe(after)}`,
      );
    },
  },
];
