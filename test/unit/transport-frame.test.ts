import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameError,
  invokeSize,
  readFrame,
  writeInvoke,
} from "../../src/transport/frame.ts";
import { Outbox } from "../../src/transport/outbox.ts";
import { FUNCTION_NAME, HEADER_BYTES, KIND_CODES, MAX_ID } from "../../src/transport/protocol.ts";

const invocationId = fc.integer({ min: 1, max: MAX_ID });
const anyId = fc.integer({ min: 0, max: MAX_ID });
const contentType = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 255,
});
const body = fc.uint8Array({ maxLength: 300 });
// Well-formed Unicode only: lone surrogates cannot survive UTF-8, by design.
const message = fc.string({ unit: "grapheme", maxLength: 60 });
const timestamp = fc.double({ noNaN: true, noDefaultInfinity: true });

const functionName = fc.stringMatching(FUNCTION_NAME);

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ kind: fc.constant("invoke" as const), id: invocationId, contentType, body }),
  fc.record({
    kind: fc.constant("invoke" as const),
    id: invocationId,
    function: functionName,
    contentType,
    body,
  }),
  fc.record({ kind: fc.constant("ack" as const), id: invocationId }),
  fc.record({ kind: fc.constant("ack" as const), id: invocationId, retryable: fc.constant(true) }),
  fc.record({
    kind: fc.constant("result" as const),
    id: invocationId,
    status: fc.integer({ min: 200, max: 599 }),
    contentType,
    body,
  }),
  fc.record({
    kind: fc.constant("error" as const),
    id: invocationId,
    code: fc.constantFrom(1 as const, 2 as const),
    message,
  }),
  fc.record({ kind: fc.constant("ping" as const), id: anyId, timestamp }),
  fc.record({ kind: fc.constant("pong" as const), id: anyId, timestamp }),
  fc.record({ kind: fc.constant("goaway" as const), id: fc.constant(0 as const), reason: message }),
);

/** decode either yields a frame whose canonical encoding is the input, or throws FrameError. */
function decodesStrictly(input: Uint8Array, maxPayload?: number): void {
  let decoded: Frame;
  try {
    decoded = decodeFrame(input, maxPayload);
  } catch (error) {
    expect(error).toBeInstanceOf(FrameError);
    return;
  }
  expect(encodeFrame(decoded, maxPayload)).toEqual(new Uint8Array(input));
}

function header(fields: {
  version?: number;
  kind?: number;
  flags?: number;
  high?: number;
  id?: number;
  length: number;
}): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(0, fields.version ?? 1);
  view.setUint8(1, fields.kind ?? KIND_CODES.ack);
  view.setUint16(2, fields.flags ?? 0);
  view.setUint32(4, fields.high ?? 0);
  view.setUint32(8, fields.id ?? 1);
  view.setUint32(12, fields.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

function codeOf(input: Uint8Array, maxPayload?: number): string {
  try {
    decodeFrame(input, maxPayload);
  } catch (error) {
    if (error instanceof FrameError) return error.code;
    throw error;
  }
  return "ok";
}

describe("frame codec properties", () => {
  it("round-trips any frame", () => {
    fc.assert(
      fc.property(frame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual(f);
      }),
      { numRuns: 2_000 },
    );
  });

  it("decodes any bytes to a valid frame or a FrameError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => decodesStrictly(input)),
      {
        numRuns: 5_000,
      },
    );
  });

  it("decodes plausible headers with arbitrary payloads strictly", () => {
    const plausible = fc
      .record({
        kind: fc.integer({ min: 0, max: 9 }),
        flags: fc.constantFrom(0, 0, 0, 1, 0x8000),
        high: fc.constantFrom(0, 0, 0x1f_ffff, 0x20_0000),
        id: fc.constantFrom(0, 1, 2, 0xffff_ffff),
        payload: fc.uint8Array({ maxLength: 40 }),
        skew: fc.constantFrom(0, 0, 0, -1, 1),
      })
      .map(({ payload, skew, ...fields }) =>
        concat(header({ ...fields, length: Math.max(0, payload.byteLength + skew) }), payload),
      );
    fc.assert(
      fc.property(plausible, (input) => decodesStrictly(input)),
      { numRuns: 5_000 },
    );
  });

  it("decodes mutated valid frames strictly", () => {
    const mutated = fc
      .tuple(
        frame,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("set", "cut", "grow"),
      )
      .map(([f, at, value, how]) => {
        const encoded = encodeFrame(f);
        const index = at % encoded.byteLength;
        if (how === "cut") return encoded.subarray(0, index);
        if (how === "grow") return concat(encoded, new Uint8Array([value]));
        encoded[index] = value;
        return encoded;
      });
    fc.assert(
      fc.property(mutated, (input) => decodesStrictly(input)),
      { numRuns: 5_000 },
    );
  });

  it("decodes a frame that is a view into a larger buffer", () => {
    fc.assert(
      fc.property(
        frame,
        fc.uint8Array({ maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        (f, before, after) => {
          const encoded = encodeFrame(f);
          const big = concat(before, encoded, after);
          const slice = big.subarray(before.byteLength, before.byteLength + encoded.byteLength);
          expect(decodeFrame(slice)).toEqual(f);
        },
      ),
    );
  });
});

describe("content types repeated from frame to frame", () => {
  // The codec remembers the last content type read and written; neither may leak into the next.
  const nearRepeats = fc.array(
    fc.array(fc.constantFrom(0x61, 0x62, 0x2f, 0x0a, 0x7f), { maxLength: 3 }),
    { minLength: 1, maxLength: 12 },
  );

  it("reads each frame's own content type, and checks it, whatever came before", () => {
    fc.assert(
      fc.property(nearRepeats, (types) => {
        for (const type of types) {
          const payload = new Uint8Array([type.length, ...type, 9]);
          const input = concat(
            header({ kind: KIND_CODES.invoke, length: payload.length }),
            payload,
          );
          const valid = type.every((c) => c >= 0x20 && c <= 0x7e);
          if (!valid) {
            expect(codeOf(input)).toBe("payload");
            continue;
          }
          const decoded = decodeFrame(input);
          expect(decoded).toEqual({
            kind: "invoke",
            id: 1,
            contentType: String.fromCharCode(...type),
            body: new Uint8Array([9]),
          });
        }
      }),
    );
  });

  it("checks each content type written, whatever came before", () => {
    fc.assert(
      fc.property(nearRepeats, (types) => {
        for (const type of types) {
          const contentType = String.fromCharCode(...type);
          const invoke = () =>
            encodeFrame({ kind: "invoke", id: 1, contentType, body: new Uint8Array() });
          if (type.every((c) => c >= 0x20 && c <= 0x7e)) {
            expect(decodeFrame(invoke())).toMatchObject({ contentType });
          } else {
            expect(invoke).toThrow(FrameError);
          }
        }
      }),
    );
  });
});

/** Reads every frame of a message, as a receiver does. */
function readAll(message: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  do {
    const { frame, end } = readFrame(message, offset);
    frames.push(frame);
    offset = end;
  } while (offset < message.byteLength);
  return frames;
}

describe("messages of several frames", () => {
  it("reads back any frames packed by the outbox, in order", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 16, max: 20_000 }),
        (frames, limit) => {
          const outbox = new Outbox(limit);
          const messages: Uint8Array[] = [];
          for (const f of frames) {
            const encoded = encodeFrame(f);
            if (outbox.overflows(encoded.byteLength)) messages.push(outbox.take() as Uint8Array);
            outbox.push(encoded);
          }
          messages.push(outbox.take() as Uint8Array);
          expect(outbox.take()).toBeNull();
          expect(messages.flatMap(readAll)).toEqual(frames);
          for (const message of messages) {
            // A batch stays within the limit unless it is a single larger frame.
            if (readAll(message).length > 1) expect(message.byteLength).toBeLessThanOrEqual(limit);
          }
        },
      ),
    );
  });

  it("packs frames written in place as it packs encoded ones", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: invocationId, contentType, body }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 16, max: 20_000 }),
        fc.boolean(),
        (invokes, limit, mixed) => {
          const frames: Frame[] = invokes.map((f) => ({ kind: "invoke", ...f }));
          const outbox = new Outbox(limit);
          const messages: Uint8Array[] = [];
          invokes.forEach(({ id, contentType, body }, i) => {
            const size = invokeSize(contentType, body, 1 << 20);
            if (outbox.overflows(size)) messages.push(outbox.take() as Uint8Array);
            if (mixed && i % 2 === 1) {
              outbox.push(encodeFrame({ kind: "invoke", id, contentType, body }));
            } else {
              const at = outbox.reserve(size);
              writeInvoke(outbox.bytes, at, id, contentType, body);
            }
          });
          messages.push(outbox.take() as Uint8Array);
          expect(outbox.take()).toBeNull();
          expect(messages.flatMap(readAll)).toEqual(frames);
        },
      ),
    );
  });

  it("grows its buffer as frames come, in place or copied, keeping what it holds", () => {
    const outbox = new Outbox(64 * 1024);
    const frames: Frame[] = [];
    for (let id = 1; id <= 60; id++) {
      const body = new Uint8Array(700 + id).fill(id);
      const contentType = `t/${id}`;
      frames.push({ kind: "invoke", id, contentType, body });
      if (id % 2 === 0) outbox.push(encodeFrame({ kind: "invoke", id, contentType, body }));
      else {
        const size = invokeSize(contentType, body, 1 << 20);
        expect(outbox.overflows(size)).toBe(false);
        const at = outbox.reserve(size);
        writeInvoke(outbox.bytes, at, id, contentType, body);
      }
    }
    expect(readAll(outbox.take() as Uint8Array)).toEqual(frames);
  });

  it("reads any bytes as valid frames up to a FrameError, nothing else", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 3 }),
        fc.uint8Array({ maxLength: 24 }),
        (frames, tail) => {
          const message = concat(...frames.map((f) => encodeFrame(f)), tail);
          try {
            readAll(message);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameError);
          }
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it("rejects a frame that runs past the end of its message", () => {
    const message = concat(encodeFrame({ kind: "ack", id: 1 }), header({ length: 4 }));
    expect(readFrame(message, 0).end).toBe(16);
    expect(() => readFrame(message, 16)).toThrow(/message has 0 left/);
    expect(codeOf(concat(encodeFrame({ kind: "ack", id: 1 }), new Uint8Array(3)))).toBe("length");
  });
});

describe("frame layout", () => {
  it("writes the documented big-endian header", () => {
    const encoded = encodeFrame({
      kind: "result",
      id: 2 ** 32 + 5,
      status: 201,
      contentType: "a/b",
      body: new Uint8Array([9, 8]),
    });
    const groups = [0, 4, 12, 16].map((from, i, all) => [...encoded.subarray(from, all[i + 1])]);
    expect(groups).toEqual([
      [1, 3, 0, 0], // version, kind (result), flags
      [0, 0, 0, 1, 0, 0, 0, 5], // id as u64
      [0, 0, 0, 8], // payload length
      [0, 201, 3, 0x61, 0x2f, 0x62, 9, 8], // status, content-type length and bytes, body
    ]);
  });

  it("writes a named invoke as the flags section documents", () => {
    const encoded = encodeFrame({
      kind: "invoke",
      id: 3,
      function: "resize",
      contentType: "a/b",
      body: new Uint8Array([7]),
    });
    expect([...encoded.subarray(0, 4)]).toEqual([1, 1, 0, 1]); // version, invoke, flag named
    expect([...encoded.subarray(16)]).toEqual([
      6,
      ...new TextEncoder().encode("resize"),
      3,
      0x61,
      0x2f,
      0x62,
      7,
    ]);
    expect(decodeFrame(encoded)).toMatchObject({ function: "resize", contentType: "a/b" });
    // Unnamed, the bytes are exactly those of an invoke from before flags existed.
    const plain = encodeFrame({ kind: "invoke", id: 3, contentType: "", body: new Uint8Array() });
    expect([...plain]).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0]);
    expect(decodeFrame(plain)).not.toHaveProperty("function");
  });

  it("carries the retryable flag of an ack, and only when set", () => {
    const flagged = encodeFrame({ kind: "ack", id: 9, retryable: true });
    expect(flagged[3]).toBe(1);
    expect(decodeFrame(flagged)).toEqual({ kind: "ack", id: 9, retryable: true });
    expect(encodeFrame({ kind: "ack", id: 9, retryable: false })[3]).toBe(0);
    expect(decodeFrame(encodeFrame({ kind: "ack", id: 9 }))).toEqual({ kind: "ack", id: 9 });
  });

  it("decodes bodies as views, without copying", () => {
    const encoded = encodeFrame({
      kind: "invoke",
      id: 1,
      contentType: "",
      body: new Uint8Array([1, 2, 3]),
    });
    const decoded = decodeFrame(encoded);
    if (decoded.kind !== "invoke") throw new Error("expected invoke");
    expect(decoded.body.buffer).toBe(encoded.buffer);
  });
});

describe("malformed frames", () => {
  const ack = encodeFrame({ kind: "ack", id: 7 });

  it.each([
    ["truncated", ack.subarray(0, 15)],
    ["version", concat(header({ version: 2, length: 0 }))],
    ["kind", concat(header({ kind: 0, length: 0 }))],
    ["kind", concat(header({ kind: 8, length: 0 }))],
    ["flags", concat(header({ flags: 2, length: 0 }))],
    ["flags", concat(header({ kind: KIND_CODES.result, flags: 1, length: 0 }))],
    ["flags", concat(header({ kind: KIND_CODES.invoke, flags: 0x8001, length: 0 }))],
    ["id", concat(header({ high: 0x20_0000, length: 0 }))],
    ["id", concat(header({ id: 0, length: 0 }))],
    ["id", concat(header({ kind: KIND_CODES.goaway, id: 3, length: 0 }))],
    ["length", concat(ack, new Uint8Array([0]))],
    ["length", concat(header({ kind: KIND_CODES.invoke, length: 5 }), new Uint8Array([0, 1]))],
    ["payload", concat(header({ length: 1 }), new Uint8Array([0]))],
    ["payload", concat(header({ kind: KIND_CODES.invoke, length: 0 }))],
    // Named invokes: no name length, a name past the payload, an empty or forbidden name, no
    // content-type length after the name.
    ["payload", concat(header({ kind: KIND_CODES.invoke, flags: 1, length: 0 }))],
    [
      "payload",
      concat(header({ kind: KIND_CODES.invoke, flags: 1, length: 2 }), new Uint8Array([4, 0x61])),
    ],
    [
      "payload",
      concat(header({ kind: KIND_CODES.invoke, flags: 1, length: 2 }), new Uint8Array([0, 0])),
    ],
    [
      "payload",
      concat(
        header({ kind: KIND_CODES.invoke, flags: 1, length: 3 }),
        new Uint8Array([1, 0x2f, 0]),
      ),
    ],
    [
      "payload",
      concat(header({ kind: KIND_CODES.invoke, flags: 1, length: 2 }), new Uint8Array([1, 0x61])),
    ],
    ["payload", concat(header({ kind: KIND_CODES.invoke, length: 2 }), new Uint8Array([5, 0x61]))],
    ["payload", concat(header({ kind: KIND_CODES.invoke, length: 2 }), new Uint8Array([1, 0x0a]))],
    ["payload", concat(header({ kind: KIND_CODES.result, length: 3 }), new Uint8Array([0, 99, 0]))],
    ["payload", concat(header({ kind: KIND_CODES.error, length: 2 }), new Uint8Array([0, 3]))],
    [
      "payload",
      concat(header({ kind: KIND_CODES.error, length: 3 }), new Uint8Array([0, 1, 0xff])),
    ],
    ["payload", concat(header({ kind: KIND_CODES.ping, length: 4 }), new Uint8Array(4))],
    [
      "payload",
      concat(
        header({ kind: KIND_CODES.pong, length: 8 }),
        new Uint8Array([0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
      ),
    ],
  ])("rejects %s", (code, input) => {
    expect(codeOf(input)).toBe(code);
  });

  it("rejects a payload over the limit before reading it", () => {
    expect(codeOf(concat(header({ kind: KIND_CODES.invoke, length: 2 ** 32 - 1 })))).toBe(
      "oversized",
    );
    const invoke = encodeFrame({
      kind: "invoke",
      id: 1,
      contentType: "",
      body: new Uint8Array(100),
    });
    expect(codeOf(invoke, 100)).toBe("oversized");
    expect(codeOf(invoke, 101)).toBe("ok");
  });

  it("refuses to encode what it would refuse to decode", () => {
    const encodeCode = (f: Frame, max?: number) => {
      try {
        encodeFrame(f, max);
        return "ok";
      } catch (error) {
        return error instanceof FrameError ? error.code : "other";
      }
    };
    expect(encodeCode({ kind: "ack", id: 0 })).toBe("id");
    expect(encodeCode({ kind: "ack", id: MAX_ID + 1 })).toBe("id");
    expect(encodeCode({ kind: "ack", id: 1.5 })).toBe("id");
    expect(encodeCode({ kind: "invoke", id: 1, contentType: "é", body: new Uint8Array() })).toBe(
      "payload",
    );
    expect(
      encodeCode({ kind: "invoke", id: 1, contentType: "a".repeat(256), body: new Uint8Array() }),
    ).toBe("payload");
    expect(
      encodeCode({ kind: "result", id: 1, status: 199, contentType: "", body: new Uint8Array() }),
    ).toBe("payload");
    expect(encodeCode({ kind: "ping", id: 1, timestamp: Number.NaN })).toBe("payload");
    expect(encodeCode({ kind: "error", id: 1, code: 9 as 1, message: "" })).toBe("payload");
    expect(
      encodeCode({ kind: "invoke", id: 1, contentType: "", body: new Uint8Array(10) }, 10),
    ).toBe("oversized");
    for (const name of ["", "-x", "a b", "é", "a".repeat(65), "a/b"]) {
      expect(
        encodeCode({
          kind: "invoke",
          id: 1,
          function: name,
          contentType: "",
          body: new Uint8Array(),
        }),
      ).toBe("payload");
    }
    // The name counts toward the payload limit.
    expect(
      encodeCode(
        { kind: "invoke", id: 1, function: "f", contentType: "", body: new Uint8Array(8) },
        10,
      ),
    ).toBe("oversized");
  });
});
