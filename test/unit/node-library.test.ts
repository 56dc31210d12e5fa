import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  InvocationError,
  type ServedNode,
  type ServeOptions,
  serve,
} from "../../nodes/typescript/src/index.ts";
import { FunctionError } from "../../src/transport/errors.ts";
import { encodeFrame, type Frame, frameAt, frameEnd } from "../../src/transport/frame.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import { SUBPROTOCOL } from "../../src/transport/protocol.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";
import { bytes, type Cleanups, latch, startTestNode, text, waitFor } from "./transport-harness.ts";

const cleanups: Cleanups = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DEADLINE = { deadlineMs: 5_000 };

async function startNode(options: Omit<ServeOptions, "port">): Promise<ServedNode> {
  const node = await serve({ port: 0, handleSignals: false, log: () => {}, ...options });
  cleanups.push(() => node.abort());
  return node;
}

function streamTo(node: ServedNode): NodeStream {
  const stream = new NodeStream({ connect: (signal) => connectWebSocket(node.url, { signal }) });
  cleanups.push(() => stream.close());
  return stream;
}

/** A gateway written by hand: raw frames out, every decoded frame in, and the close code. */
interface RawGateway {
  frames: Frame[];
  /** The raw bytes of each frame received, for checking flag bits on the wire. */
  raw: Uint8Array[];
  closed: Promise<number>;
  send(...frames: Frame[]): void;
  ws: WebSocket;
}

async function rawGateway(node: ServedNode): Promise<RawGateway> {
  const ws = new WebSocket(node.url, SUBPROTOCOL);
  const frames: Frame[] = [];
  const raw: Uint8Array[] = [];
  ws.on("message", (data: Buffer) => {
    const message = new Uint8Array(data);
    for (let offset = 0; offset < message.byteLength; offset = frameEnd(message, offset)) {
      frames.push(frameAt(message, offset));
      raw.push(message.slice(offset, frameEnd(message, offset)));
    }
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  cleanups.push(() => ws.terminate());
  return {
    frames,
    raw,
    closed,
    ws,
    send(...out) {
      const encoded = out.map((frame) => encodeFrame(frame));
      ws.send(Buffer.concat(encoded));
    },
  };
}

const invoke = (id: number, name?: string, body = "x"): Frame => ({
  kind: "invoke",
  id,
  function: name,
  contentType: "text/plain",
  body: bytes(body),
});

const kinds = (gateway: RawGateway, id: number) =>
  gateway.frames.filter((frame) => frame.id === id).map((frame) => frame.kind);

/** Resolves once the function has been told to stop: the signal's reason, for checking. */
function waitForAbort(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(String(signal.reason)), { once: true }),
  );
}

function problemOf(result: { contentType: string; body: Uint8Array }) {
  expect(result.contentType).toBe("application/problem+json");
  return JSON.parse(text(result.body)) as { type: string; status: number; detail: string };
}

describe("@roundhouse/node", () => {
  it("runs a named function and normalises its answer", async () => {
    const node = await startNode({
      functions: { upper: (request) => request.text().toUpperCase(), sum: () => ({ n: 3 }) },
    });
    const stream = streamTo(node);
    const upper = await stream.invoke({ body: bytes("hi"), function: "upper" }, DEADLINE);
    expect(upper.status).toBe(200);
    expect(upper.contentType).toBe("text/plain; charset=utf-8");
    expect(text(upper.body)).toBe("HI");
    const sum = await stream.invoke({ body: bytes(""), function: "sum" }, DEADLINE);
    expect(sum.contentType).toBe("application/json");
    expect(text(sum.body)).toBe('{"n":3}');
  });

  it("runs the default function for an unnamed invocation", async () => {
    const seen: (string | undefined)[] = [];
    const node = await startNode({
      default: (request) => {
        seen.push(request.function);
        return { status: 201, contentType: request.contentType, body: request.body };
      },
      functions: { other: () => "other" },
    });
    const result = await streamTo(node).invoke(
      { body: bytes("hello"), contentType: "text/x-greeting" },
      DEADLINE,
    );
    expect(result).toMatchObject({ status: 201, contentType: "text/x-greeting" });
    expect(text(result.body)).toBe("hello");
    expect(seen).toEqual([undefined]);
  });

  it("answers an unknown function 404 problem+json after a plain ack", async () => {
    const node = await startNode({ functions: { echo: (request) => request.body } });
    const stream = streamTo(node);
    const named = await stream.invoke({ body: bytes("x"), function: "resize" }, DEADLINE);
    expect(named.status).toBe(404);
    expect(problemOf(named)).toMatchObject({
      type: "urn:roundhouse:problem:unknown-function",
      status: 404,
      detail: 'no function named "resize"',
    });
    // No default function registered: an unnamed invocation is unknown too.
    const unnamed = await stream.invoke({ body: bytes("x") }, DEADLINE);
    expect(unnamed.status).toBe(404);
    const gateway = await rawGateway(node);
    gateway.send(invoke(7, "resize"));
    await waitFor(() => kinds(gateway, 7).length === 2);
    expect(gateway.frames).toEqual([
      { kind: "ack", id: 7 },
      expect.objectContaining({ kind: "result", id: 7, status: 404 }),
    ]);
  });

  it("sets the retryable flag on the acks of idempotent functions only", async () => {
    const node = await startNode({
      functions: { idem: { handler: () => "ok", idempotent: true }, plain: () => "ok" },
    });
    const gateway = await rawGateway(node);
    gateway.send(invoke(1, "idem"), invoke(2, "plain"));
    await waitFor(() => gateway.frames.length === 4);
    const acks = gateway.raw.filter((frame) => frame[1] === 2);
    expect(acks.map((frame) => [frame[11], frame[2], frame[3]])).toEqual([
      [1, 0, 1],
      [2, 0, 0],
    ]);
  });

  it("answers a body over maxBodyBytes 413 without running the function", async () => {
    let runs = 0;
    const node = await startNode({
      functions: { small: { handler: () => ++runs, maxBodyBytes: 4 } },
    });
    const stream = streamTo(node);
    const fits = await stream.invoke({ body: bytes("1234"), function: "small" }, DEADLINE);
    expect(fits.status).toBe(200);
    const over = await stream.invoke({ body: bytes("12345"), function: "small" }, DEADLINE);
    expect(over.status).toBe(413);
    expect(problemOf(over).type).toBe("urn:roundhouse:problem:payload-too-large");
    expect(runs).toBe(1);
  });

  it("aborts a function past its timeoutMs and answers 504", async () => {
    let reason = "";
    const node = await startNode({
      functions: {
        slow: {
          timeoutMs: 20,
          handler: async (request) => {
            reason = await waitForAbort(request.signal);
            return "too late";
          },
        },
      },
    });
    const result = await streamTo(node).invoke({ body: bytes(""), function: "slow" }, DEADLINE);
    expect(result.status).toBe(504);
    expect(problemOf(result).type).toBe("urn:roundhouse:problem:function-timeout");
    await waitFor(() => reason !== "");
    expect(reason).toMatch(/timed out after 20 ms/);
    expect(node.stats()).toMatchObject({ aborted: 1, running: 0, results: 1 });
  });

  it("fires a running function's signal when its stream drops", async () => {
    const started = latch();
    let aborted = false;
    const node = await startNode({
      functions: {
        wait: async (request) => {
          started.open();
          await waitForAbort(request.signal);
          aborted = true;
        },
      },
    });
    const gateway = await rawGateway(node);
    gateway.send(invoke(1, "wait"));
    await started.opened;
    expect(aborted).toBe(false);
    gateway.ws.terminate();
    await waitFor(() => aborted);
    expect(node.stats()).toMatchObject({ aborted: 1, running: 0 });
  });

  it("acks only while fewer than `concurrency` functions run; the rest wait in order", async () => {
    const release = new Map<number, () => void>();
    const node = await startNode({
      concurrency: 2,
      functions: {
        hold: (request) =>
          new Promise<string>((resolve) => release.set(request.id, () => resolve("done"))),
      },
    });
    const gateway = await rawGateway(node);
    gateway.send(invoke(1, "hold"), invoke(2, "hold"), invoke(3, "hold"));
    await waitFor(() => kinds(gateway, 1).length + kinds(gateway, 2).length === 2);
    expect(node.stats()).toMatchObject({ invocations: 3, running: 2, awaitingAck: 1, acked: 2 });
    expect(kinds(gateway, 3)).toEqual([]);
    release.get(1)?.();
    await waitFor(() => kinds(gateway, 3).length === 1);
    expect(gateway.frames.map((frame) => `${frame.kind}${frame.id}`)).toEqual([
      "ack1",
      "ack2",
      "result1",
      "ack3",
    ]);
    expect([...release.keys()]).toEqual([1, 2, 3]);
    release.get(2)?.();
    release.get(3)?.();
    await waitFor(() => gateway.frames.length === 6);
  });

  it("drains on close(): goaway, rejects new invocations, finishes acked ones, closes 1000", async () => {
    const release = latch();
    const node = await startNode({
      functions: {
        hold: async () => {
          await release.opened;
          return "finished";
        },
      },
    });
    const health = () => fetch(`http://127.0.0.1:${node.port}/health`);
    const before = await health();
    expect([before.status, await before.text()]).toEqual([200, "ok"]);
    const gateway = await rawGateway(node);
    gateway.send(invoke(1, "hold"));
    await waitFor(() => kinds(gateway, 1).length === 1);
    const closing = node.close();
    await waitFor(() => gateway.frames.some((frame) => frame.kind === "goaway"));
    expect((await health()).status).toBe(503);
    gateway.send(invoke(2, "hold"));
    await waitFor(() => kinds(gateway, 2).length === 1);
    expect(gateway.frames.find((frame) => frame.id === 2)).toMatchObject({
      kind: "error",
      code: 2,
    });
    release.open();
    expect(await gateway.closed).toBe(1000);
    await closing;
    expect(kinds(gateway, 1)).toEqual(["ack", "result"]);
    expect(node.stats()).toMatchObject({ rejected: 1, goaways: 1, open: 0 });
  });

  it("rejects, at drain, invocations still waiting unacked for a slot", async () => {
    const release = latch();
    const node = await startNode({
      concurrency: 1,
      functions: { hold: () => release.opened.then(() => "done") },
    });
    const gateway = await rawGateway(node);
    gateway.send(invoke(1, "hold"), invoke(2, "hold"));
    await waitFor(() => node.stats().awaitingAck === 1 && kinds(gateway, 1).length === 1);
    const closing = node.close();
    await waitFor(() => kinds(gateway, 2).length === 1);
    expect(gateway.frames.find((frame) => frame.id === 2)).toMatchObject({
      kind: "error",
      code: 2,
    });
    release.open();
    await closing;
    expect(kinds(gateway, 1)).toEqual(["ack", "result"]);
  });

  it("answers GET /health and 404 elsewhere", async () => {
    const node = await startNode({});
    const ok = await fetch(`http://127.0.0.1:${node.port}/health`);
    expect([ok.status, await ok.text()]).toEqual([200, "ok"]);
    expect((await fetch(`http://127.0.0.1:${node.port}/other`)).status).toBe(404);
  });

  it("pings the gateway, and closes 4003 when it stays silent", async () => {
    const node = await startNode({ pingIntervalMs: 10, heartbeatTimeoutMs: 30 });
    const gateway = await rawGateway(node);
    expect(await gateway.closed).toBe(4003);
    const pings = gateway.frames.filter((frame) => frame.kind === "ping");
    expect(pings.length).toBeGreaterThanOrEqual(2);
    expect(pings.map((ping) => ping.id).slice(0, 2)).toEqual([1, 2]);
    expect(node.stats().heartbeatTimeouts).toBe(1);
  });

  it("keeps a stream that answers its pings open, and answers the gateway's pings", async () => {
    const node = await startNode({ pingIntervalMs: 10, heartbeatTimeoutMs: 30 });
    const stream = streamTo(node);
    const gateway = await rawGateway(node);
    gateway.send({ kind: "ping", id: 9, timestamp: 1.5 });
    await waitFor(() => gateway.frames.some((frame) => frame.kind === "pong"));
    expect(gateway.frames.find((frame) => frame.kind === "pong")).toEqual({
      kind: "pong",
      id: 9,
      timestamp: 1.5,
    });
    // The NodeStream answers pings with pongs, which count as frames heard.
    await stream.invoke({ body: bytes("") }, DEADLINE);
    await waitFor(() => node.stats().heartbeatTimeouts === 1);
    expect(await gateway.closed).toBe(4003);
    // The NodeStream's own stream stays.
    await waitFor(() => node.stats().open === 1);
    expect(stream.stats()).toMatchObject({ state: "open", generation: 1 });
  });

  it("answers an InvocationError with its status and a thrown error with an error frame", async () => {
    const node = await startNode({
      functions: {
        teapot: () => {
          throw new InvocationError(418, "short and stout", { type: "urn:example:teapot" });
        },
        broken: () => Promise.reject(new Error("out of widgets")),
      },
    });
    const stream = streamTo(node);
    const teapot = await stream.invoke({ body: bytes(""), function: "teapot" }, DEADLINE);
    expect(teapot.status).toBe(418);
    expect(problemOf(teapot)).toMatchObject({
      type: "urn:example:teapot",
      detail: "short and stout",
    });
    const broken = await stream
      .invoke({ body: bytes(""), function: "broken" }, DEADLINE)
      .catch((error: unknown) => error);
    expect(broken).toBeInstanceOf(FunctionError);
    expect((broken as FunctionError).nodeMessage).toBe("out of widgets");
  });

  it("closes on protocol violations with the documented codes", async () => {
    const node = await startNode({
      maxPayload: 64,
      functions: { hold: () => new Promise(() => {}) },
    });
    const text = await rawGateway(node);
    text.ws.send("hello");
    expect(await text.closed).toBe(4001);
    const malformed = await rawGateway(node);
    const bad = encodeFrame(invoke(1, "hold"));
    bad[0] = 9;
    malformed.ws.send(bad);
    expect(await malformed.closed).toBe(4000);
    const duplicate = await rawGateway(node);
    duplicate.send(invoke(1, "hold"), invoke(1, "hold"));
    expect(await duplicate.closed).toBe(4000);
    expect(kinds(duplicate, 1)).toEqual(["ack"]);
    const oversized = await rawGateway(node);
    oversized.ws.send(encodeFrame(invoke(1, "hold", "y".repeat(60)), 1024));
    expect(await oversized.closed).toBe(4002);
    expect(node.stats().protocolErrors).toBe(4);
  });

  it("refuses an upgrade without the roundhouse.v1 subprotocol with 400", async () => {
    const node = await startNode({});
    const ws = new WebSocket(node.url, "other.v9");
    ws.on("error", () => {});
    const status = await new Promise<number>((resolve) => {
      ws.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      ws.once("open", () => resolve(101));
    });
    expect(status).toBe(400);
  });

  it("is what the reference node runs: its default module and a named echo", async () => {
    const test = await startTestNode({
      handler: { invoke: (request) => `default:${request.text()}` },
    });
    cleanups.push(() => test.close());
    const stream = new NodeStream({ connect: (signal) => connectWebSocket(test.url, { signal }) });
    cleanups.push(() => stream.close());
    const unnamed = await stream.invoke({ body: bytes("a") }, DEADLINE);
    expect(text(unnamed.body)).toBe("default:a");
    const named = await stream.invoke(
      { body: bytes("b"), contentType: "text/x", function: "echo" },
      DEADLINE,
    );
    expect([named.status, named.contentType, text(named.body)]).toEqual([200, "text/x", "b"]);
    const unknown = await stream.invoke({ body: bytes(""), function: "nope" }, DEADLINE);
    expect(unknown.status).toBe(404);
    expect(test.node.stats()).toMatchObject({ results: 3, acked: 3 });
    expect([1, 2, 3].map((id) => test.node.executions(id))).toEqual([1, 1, 0]);
  });
});
