import { afterEach, describe, expect, it } from "vitest";
import { loadFunctions, normaliseResult } from "../../backend/functions.ts";
import { FunctionError } from "../../src/transport/errors.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";
import { bytes, outcome, startTestNode, type TestNode, text } from "./transport-harness.ts";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function streamTo(test: TestNode): Promise<NodeStream> {
  const stream = new NodeStream({
    connect: (signal) => connectWebSocket(test.url, { signal }),
    log: () => {},
  });
  cleanups.push(() => stream.close());
  return stream;
}

const DEADLINE = { deadlineMs: 5_000 };

describe("normaliseResult", () => {
  it.each([
    ["a string as text", "héllo", 200, "text/plain; charset=utf-8", "héllo"],
    ["bytes as octets", new Uint8Array([104, 105]), 200, "application/octet-stream", "hi"],
    ["an object as JSON", { a: [1, 2] }, 200, "application/json", '{"a":[1,2]}'],
    ["null as JSON", null, 200, "application/json", "null"],
    ["a number as JSON", 42, 200, "application/json", "42"],
    ["undefined as an empty body", undefined, 200, "", ""],
    [
      "a response with defaults",
      { status: 201, body: "made" },
      201,
      "text/plain; charset=utf-8",
      "made",
    ],
    [
      "a response's JSON body",
      { status: 202, body: { ok: true } },
      202,
      "application/json",
      '{"ok":true}',
    ],
    ["a full response", { status: 404, contentType: "text/x", body: "no" }, 404, "text/x", "no"],
    ["a status-only response", { status: 204 }, 204, "", ""],
    [
      "an object with a string status as JSON",
      { status: "ok" },
      200,
      "application/json",
      '{"status":"ok"}',
    ],
    [
      "an object with extra keys as JSON",
      { status: 200, body: 1, extra: 2 },
      200,
      "application/json",
      '{"status":200,"body":1,"extra":2}',
    ],
  ])("returns %s", (_name, value, status, contentType, body) => {
    const result = normaliseResult(value);
    expect({ ...result, body: text(result.body) }).toEqual({ status, contentType, body });
  });

  it("refuses a status outside 200..599 and values JSON cannot carry", () => {
    expect(() => normaliseResult({ status: 100 })).toThrow(/outside 200..599/);
    expect(() => normaliseResult(() => 1)).toThrow(/not JSON-able/);
    expect(() => normaliseResult(10n)).toThrow();
  });
});

describe("functions modules", () => {
  it("runs the uppercase example over a stream", async () => {
    const handler = await loadFunctions("backend/examples/uppercase.ts");
    const test = await startTestNode({ handler });
    cleanups.push(() => test.close());
    const stream = await streamTo(test);
    const result = await stream.invoke(
      { body: bytes("shout"), contentType: "text/plain" },
      DEADLINE,
    );
    expect(result).toMatchObject({ status: 200, contentType: "text/plain; charset=utf-8" });
    expect(text(result.body)).toBe("SHOUT");
  });

  it("rejects a module without a default invoke", async () => {
    await expect(loadFunctions("backend/functions.ts")).rejects.toThrow(/must export default/);
  });

  it("hands functions the body, content-type and parsers", async () => {
    const test = await startTestNode({
      handler: {
        invoke(request) {
          const input = request.json() as { n: number };
          return { id: request.id, type: request.contentType, doubled: input.n * 2 };
        },
      },
    });
    cleanups.push(() => test.close());
    const stream = await streamTo(test);
    const result = await stream.invoke(
      { body: bytes('{"n":21}'), contentType: "application/json" },
      DEADLINE,
    );
    expect(JSON.parse(text(result.body))).toEqual({ id: 1, type: "application/json", doubled: 42 });

    const bad = await outcome(stream.invoke({ body: bytes("{") }, DEADLINE));
    expect(bad).toBeInstanceOf(FunctionError);
    expect((bad as FunctionError).nodeMessage).toMatch(/JSON/);
  });

  it("reports a result over the limit as a function failure", async () => {
    const test = await startTestNode({
      maxPayload: 1_000,
      handler: { invoke: () => "x".repeat(2_000) },
    });
    cleanups.push(() => test.close());
    const stream = new NodeStream({
      connect: (signal) => connectWebSocket(test.url, { signal }),
      maxPayload: 1_000,
      log: () => {},
    });
    cleanups.push(() => stream.close());
    const error = await outcome(stream.invoke({ body: bytes("x") }, DEADLINE));
    expect(error).toBeInstanceOf(FunctionError);
    expect((error as FunctionError).nodeMessage).toMatch(/exceeds 1000/);
  });
});
