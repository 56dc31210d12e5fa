import { afterEach, describe, expect, it } from "vitest";
import type { StreamServerOptions } from "../../backend/stream-server.ts";
import { BusyError, NotAckedError } from "../../src/transport/errors.ts";
import { FrameError } from "../../src/transport/frame.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import type { NodeStreamOptions } from "../../src/transport/node-stream-types.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";
import {
  bytes,
  type Cleanups,
  latch,
  outcome,
  type StreamFixture,
  startStreamFixture,
  startTestNode,
  text,
  waitFor,
} from "./transport-harness.ts";

const cleanups: Cleanups = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const setup = (
  nodeOptions: StreamServerOptions = {},
  streamOptions: Partial<NodeStreamOptions> = {},
): Promise<StreamFixture> => startStreamFixture(cleanups, nodeOptions, streamOptions);

const DEADLINE = { deadlineMs: 5_000 };

/** Yields one event-loop turn, so the stream's sender (a microtask) has run. */
const senderRan = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("NodeStream against the reference node", () => {
  it("invokes the echo function", async () => {
    const { stream, test, audit } = await setup();
    const result = await stream.invoke({ body: bytes("hi"), contentType: "text/plain" }, DEADLINE);
    expect(result.status).toBe(200);
    expect(result.contentType).toBe("text/plain");
    expect(text(result.body)).toBe("hi");
    expect(stream.state).toBe("open");
    expect(test.node.executions(1)).toBe(1);
    expect(stream.stats()).toMatchObject({ sent: 1, acked: 1, results: 1, inFlight: 0 });
    expect(audit.sendsAfterClose).toBe(0);
  });

  it("delivers sequential sends to the function in call order", async () => {
    const arrivals: string[] = [];
    const { stream } = await setup({
      handler: {
        async invoke(request) {
          arrivals.push(request.text());
          // Random completion times make results come back out of order.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          return request.text();
        },
      },
    });
    const count = 2_000;
    const calls = Array.from({ length: count }, (_, i) =>
      stream.invoke({ body: bytes(String(i)) }, DEADLINE),
    );
    const results = await Promise.all(calls);
    const expected = Array.from({ length: count }, (_, i) => String(i));
    expect(arrivals).toEqual(expected);
    expect(results.map((r) => text(r.body))).toEqual(expected);
  });

  it("keeps order across awaited (sync) calls too", async () => {
    const arrivals: string[] = [];
    const { stream } = await setup({
      handler: {
        invoke(request) {
          arrivals.push(request.text());
          return request.body;
        },
      },
    });
    for (let i = 0; i < 200; i++) {
      const result = await stream.invoke({ body: bytes(String(i)) }, DEADLINE);
      expect(text(result.body)).toBe(String(i));
    }
    expect(arrivals).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
  });

  it("pipelines: many invocations run at once on one stream", async () => {
    const together = 32;
    const all = latch();
    let started = 0;
    const { stream, test, audit } = await setup({
      handler: {
        async invoke(request) {
          started++;
          if (started === together) all.open();
          // Every function waits until all of them have started: only overlap lets this finish.
          await all.opened;
          return request.body;
        },
      },
    });
    const results = await Promise.all(
      Array.from({ length: together }, (_, i) =>
        stream.invoke({ body: bytes(String(i)) }, DEADLINE),
      ),
    );
    expect(results.map((r) => text(r.body))).toEqual(
      Array.from({ length: together }, (_, i) => String(i)),
    );
    expect(test.node.stats().peakRunning).toBe(together);
    expect(test.node.stats().connections).toBe(1);
    expect(audit.sockets).toBe(1);
  });

  it("bounds un-acked invocations by the window and makes callers wait, then busy", async () => {
    const arrivals: string[] = [];
    const { stream, test } = await setup(
      {
        faults: { ackDelayMs: 150 },
        handler: {
          invoke(request) {
            arrivals.push(request.text());
            return request.body;
          },
        },
      },
      { window: 4, queueCapacity: 8 },
    );
    await waitFor(() => stream.state === "open");
    const patient = Array.from({ length: 12 }, (_, i) =>
      stream.invoke({ body: bytes(`p${i}`) }, DEADLINE),
    );
    // The window's 4 are written at once (to leave at the end of this task), the queue holds 8.
    expect(stream.stats()).toMatchObject({ unacked: 4, queueDepth: 8, waiting: 0 });
    await senderRan();
    expect(stream.stats()).toMatchObject({ unacked: 4, queueDepth: 8, waiting: 0 });
    const impatient = Array.from({ length: 3 }, (_, i) =>
      outcome(stream.invoke({ body: bytes(`i${i}`) }, { deadlineMs: 30 })),
    );
    const late = Array.from({ length: 2 }, (_, i) =>
      stream.invoke({ body: bytes(`l${i}`) }, DEADLINE),
    );
    expect(stream.stats()).toMatchObject({ unacked: 4, queueDepth: 8, waiting: 5 });

    for (const error of await Promise.all(impatient)) {
      expect(error).toBeInstanceOf(BusyError);
      expect((error as BusyError).retryAfterMs).toBeGreaterThanOrEqual(1);
      expect((error as BusyError).mayHaveRun).toBe(false);
    }
    const done = await Promise.all([...patient, ...late]);
    expect(done.map((r) => text(r.body))).toEqual([
      ...Array.from({ length: 12 }, (_, i) => `p${i}`),
      "l0",
      "l1",
    ]);
    // The busy callers never reached the node, and the rest arrived in call order.
    expect(arrivals).toEqual(done.map((r) => text(r.body)));
    expect(test.node.stats().peakAwaitingAck).toBe(4);
    expect(stream.stats()).toMatchObject({ busy: 3, queueDepth: 0, waiting: 0 });
  });

  it("reports a function failure as FunctionError with the node's message", async () => {
    const { stream } = await setup({
      handler: {
        invoke() {
          throw new Error("boom");
        },
      },
    });
    const error = await outcome(stream.invoke({ body: bytes("x") }, DEADLINE));
    expect(error).toMatchObject({ name: "FunctionError", nodeMessage: "boom", mayHaveRun: true });
    expect(stream.stats().errors).toBe(1);
  });

  it("rejects a payload over the limit without sending it", async () => {
    const { stream, test } = await setup({ maxPayload: 64 }, { maxPayload: 64 });
    const error = await outcome(stream.invoke({ body: new Uint8Array(64) }, DEADLINE));
    expect(error).toBeInstanceOf(FrameError);
    expect((error as FrameError).code).toBe("oversized");
    expect(text((await stream.invoke({ body: bytes("small") }, DEADLINE)).body)).toBe("small");
    expect(test.node.stats().invocations).toBe(1);
  });

  it("fails unsent invocations with NotAcked when the node is unreachable", async () => {
    const test = await startTestNode();
    const url = test.url;
    await test.close();
    const stream = new NodeStream({
      connect: (signal) => connectWebSocket(url, { signal }),
      log: () => {},
    });
    cleanups.push(() => stream.close());
    const error = await outcome(stream.invoke({ body: bytes("x") }, DEADLINE));
    expect(error).toBeInstanceOf(NotAckedError);
    expect(stream.stats().connectFailures).toBeGreaterThanOrEqual(1);
  });

  it("fails everything with NotAcked after close()", async () => {
    const { stream } = await setup({}, {});
    const pending = outcome(stream.invoke({ body: bytes("x") }, DEADLINE));
    stream.close();
    expect(await pending).toBeInstanceOf(NotAckedError);
    expect(await outcome(stream.invoke({ body: bytes("y") }, DEADLINE))).toBeInstanceOf(
      NotAckedError,
    );
    expect(stream.state).toBe("closed");
  });

  it("refuses an upgrade that does not offer the roundhouse subprotocol", async () => {
    const test = await startTestNode();
    cleanups.push(() => test.close());
    const ws = new WebSocket(test.url);
    const event = await new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
    expect(event.code).toBe(1006);
    expect(test.node.stats().connections).toBe(0);
  });
});
