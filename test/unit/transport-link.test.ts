import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { reconnectDelay } from "../../src/transport/backoff.ts";
import {
  AbortedError,
  DeadlineError,
  LostAfterAckError,
  NotAckedError,
} from "../../src/transport/errors.ts";
import { encodeFrame, type Frame, readFrame } from "../../src/transport/frame.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import type { NodeStreamOptions } from "../../src/transport/node-stream-types.ts";
import { CLOSE_CODES, ERROR_CODES } from "../../src/transport/protocol.ts";
import type { Connect, SocketListener, StreamSocket } from "../../src/transport/socket.ts";
import { canMove, type LinkState } from "../../src/transport/stream-state.ts";
import { bytes, logSink, outcome, text } from "./transport-harness.ts";

/**
 * A scripted node end. Unsubscribing does not stop delivery, like a runtime that had events
 * queued for a socket being replaced: the stream itself must ignore them.
 */
class FakeSocket implements StreamSocket {
  readonly sent: Frame[] = [];
  /** Messages written, each holding one or more frames. */
  messages = 0;
  closedWith: { code: number; reason: string } | null = null;
  unsubscribed = false;
  #listener: SocketListener | null = null;

  send(data: Uint8Array): void {
    if (this.closedWith) throw new Error("send on a closed fake socket");
    this.messages++;
    for (let at = 0; at < data.byteLength; ) {
      const { frame, end } = readFrame(data, at);
      this.sent.push(frame);
      at = end;
    }
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  listen(listener: SocketListener): () => void {
    this.#listener = listener;
    return () => {
      this.unsubscribed = true;
    };
  }

  deliver(...frames: Frame[]): void {
    for (const frame of frames) this.raw(encodeFrame(frame));
  }

  /** Delivers several frames in one message. */
  deliverBatch(...frames: Frame[]): void {
    const parts = frames.map((frame) => encodeFrame(frame));
    const message = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      message.set(part, at);
      at += part.byteLength;
    }
    this.raw(message);
  }

  raw(data: Uint8Array | string): void {
    this.#listener?.message(data);
  }

  remoteClose(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
    this.#listener?.close(code, reason);
  }

  /** Invoke frames sent, as ids. */
  invokes(): number[] {
    return this.sent.filter((f) => f.kind === "invoke").map((f) => f.id);
  }
}

class FakeNode {
  readonly attempts: {
    resolve: (socket: StreamSocket) => void;
    reject: (error: unknown) => void;
    signal: AbortSignal;
  }[] = [];
  readonly connect: Connect = (signal) => {
    const { promise, resolve, reject } = Promise.withResolvers<StreamSocket>();
    this.attempts.push({ resolve, reject, signal });
    return promise;
  };

  /** Completes the latest connect attempt with a new socket. */
  async accept(): Promise<FakeSocket> {
    const socket = new FakeSocket();
    this.attempts.at(-1)?.resolve(socket);
    await vi.advanceTimersByTimeAsync(0);
    return socket;
  }
}

const streams: NodeStream[] = [];

function open(options: Partial<NodeStreamOptions> = {}) {
  const node = new FakeNode();
  const sink = logSink();
  const stream = new NodeStream({
    connect: node.connect,
    log: sink.log,
    backoff: { initialMs: 100, maxMs: 100 },
    ...options,
  });
  streams.push(stream);
  return { node, stream, log: sink.entries };
}

const body = bytes("x");
const LONG = { deadlineMs: 60_000 };

/** Lets the stream's sender run: it writes at the end of the current task's microtasks. */
const tick = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
  vi.useRealTimers();
});

describe("link state machine", () => {
  it("allows only the documented transitions", () => {
    const states: LinkState[] = ["connecting", "open", "draining", "closed"];
    const allowed = states.flatMap((from) =>
      states.filter((to) => canMove(from, to)).map((to) => `${from}->${to}`),
    );
    expect(allowed).toEqual([
      "connecting->open",
      "connecting->closed",
      "open->draining",
      "open->closed",
      "draining->closed",
    ]);
  });
});

describe("sender", () => {
  it("sends nothing before the socket opens and nothing on a closed socket", async () => {
    const { node, stream } = open();
    const a = outcome(stream.invoke({ body }, LONG));
    await tick();
    expect(stream.stats()).toMatchObject({ state: "connecting", queueDepth: 1, sent: 0 });
    const s1 = await node.accept();
    await tick();
    expect(s1.invokes()).toEqual([1]);
    s1.deliver({ kind: "ack", id: 1 });
    s1.remoteClose(1011, "node crashed");
    expect(await a).toBeInstanceOf(LostAfterAckError);

    const b = stream.invoke({ body: bytes("b") }, LONG);
    await tick();
    expect(s1.invokes()).toEqual([1]);
    expect(stream.stats()).toMatchObject({ state: "connecting", queueDepth: 1 });
    await vi.advanceTimersByTimeAsync(49);
    expect(node.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(51);
    expect(node.attempts).toHaveLength(2);
    const s2 = await node.accept();
    await tick();
    expect(s2.invokes()).toEqual([2]);
    s2.deliver(
      { kind: "ack", id: 2 },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("B") },
    );
    expect(text((await b).body)).toBe("B");
    expect(stream.stats()).toMatchObject({ reconnects: 1, generation: 2, lostAfterAck: 1 });
  });

  it("holds invocations beyond the window until acks free it", async () => {
    const { node, stream } = open({ window: 2 });
    const s = await node.accept();
    await tick();
    const calls = [1, 2, 3, 4].map(() => outcome(stream.invoke({ body }, LONG)));
    await tick();
    expect(s.invokes()).toEqual([1, 2]);
    s.deliver({ kind: "ack", id: 2 });
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3]);
    s.deliver({ kind: "error", id: 1, code: ERROR_CODES.rejected, message: "busy" });
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3, 4]);
    expect(await calls[0]).toMatchObject({ rejected: true });
  });

  it("writes what became sendable together as one message, and reads batched frames", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    const calls = [1, 2, 3].map((i) => stream.invoke({ body: bytes(String(i)) }, LONG));
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3]);
    expect(s.messages).toBe(1);
    s.deliverBatch(
      { kind: "ack", id: 1 },
      { kind: "ack", id: 2 },
      { kind: "ack", id: 3 },
      { kind: "result", id: 3, status: 200, contentType: "", body: bytes("three") },
      { kind: "result", id: 1, status: 200, contentType: "", body: bytes("one") },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("two") },
    );
    expect((await Promise.all(calls)).map((r) => text(r.body))).toEqual(["one", "two", "three"]);
  });

  it("tells the caller when the node acks", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    const onAck = vi.fn();
    void outcome(stream.invoke({ body }, { ...LONG, onAck }));
    await tick();
    expect(onAck).not.toHaveBeenCalled();
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    expect(onAck).toHaveBeenCalledTimes(1);
  });
});

describe("receiver", () => {
  it("drops frames from a replaced socket generation", async () => {
    const { node, stream } = open();
    const s1 = await node.accept();
    await tick();
    const a = outcome(stream.invoke({ body }, LONG));
    await tick();
    s1.remoteClose(1006, "");
    expect(await a).toBeInstanceOf(NotAckedError);
    await vi.advanceTimersByTimeAsync(100);
    const s2 = await node.accept();
    await tick();
    const b = stream.invoke({ body }, LONG);
    await tick();
    expect(s2.invokes()).toEqual([2]);

    expect(s1.unsubscribed).toBe(true);
    s1.deliver(
      { kind: "ack", id: 2 },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("stale") },
    );
    s1.raw("garbage");
    expect(stream.stats()).toMatchObject({
      acked: 0,
      results: 0,
      unknownIds: 0,
      protocolErrors: 0,
    });

    s2.deliver(
      { kind: "ack", id: 2 },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("fresh") },
    );
    expect(text((await b).body)).toBe("fresh");
  });

  it("counts and ignores frames for unknown ids", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    s.deliver(
      { kind: "ack", id: 99 },
      { kind: "result", id: 98, status: 200, contentType: "", body },
      { kind: "error", id: 97, code: ERROR_CODES.functionFailed, message: "?" },
    );
    expect(stream.stats()).toMatchObject({ unknownIds: 3, state: "open" });
    expect(s.closedWith).toBeNull();
  });

  const protocolErrors: [string, (s: FakeSocket) => void, number, "acked" | "unacked"][] = [
    [
      "result before ack",
      (s) => s.deliver({ kind: "result", id: 1, status: 200, contentType: "", body }),
      CLOSE_CODES.protocolError,
      "unacked",
    ],
    [
      "second ack",
      (s) => s.deliver({ kind: "ack", id: 1 }, { kind: "ack", id: 1 }),
      CLOSE_CODES.protocolError,
      "acked",
    ],
    [
      "rejection after ack",
      (s) =>
        s.deliver(
          { kind: "ack", id: 1 },
          { kind: "error", id: 1, code: ERROR_CODES.rejected, message: "" },
        ),
      CLOSE_CODES.protocolError,
      "acked",
    ],
    [
      "failure before ack",
      (s) => s.deliver({ kind: "error", id: 1, code: ERROR_CODES.functionFailed, message: "" }),
      CLOSE_CODES.protocolError,
      "unacked",
    ],
    [
      "invoke from the node",
      (s) => s.deliver({ kind: "invoke", id: 5, contentType: "", body }),
      CLOSE_CODES.protocolError,
      "unacked",
    ],
    ["text message", (s) => s.raw("hello"), CLOSE_CODES.unsupportedData, "unacked"],
    [
      "truncated frame",
      (s) => s.raw(new Uint8Array([1, 2, 3])),
      CLOSE_CODES.protocolError,
      "unacked",
    ],
    [
      "oversized frame",
      (s) => s.deliver({ kind: "goaway", id: 0, reason: "x".repeat(100) }),
      CLOSE_CODES.tooLarge,
      "unacked",
    ],
  ];

  it.each(protocolErrors)(
    "closes the stream on %s, without throwing",
    async (name, act, code, acked) => {
      const { node, stream, log } = open({ maxPayload: 64 });
      const s = await node.accept();
      await tick();
      const call = outcome(stream.invoke({ body }, LONG));
      await tick();
      expect(() => act(s)).not.toThrow();
      expect(s.closedWith?.code).toBe(code);
      expect(await call).toBeInstanceOf(acked === "acked" ? LostAfterAckError : NotAckedError);
      expect(stream.stats().protocolErrors).toBe(1);
      expect(log.some((e) => e.level === "warn" && e.message.startsWith("closing stream"))).toBe(
        true,
      );
      expect(name).toBeTruthy();
    },
  );

  it("never throws out of the message handler, whatever the node sends", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.string({ maxLength: 5 })), {
          maxLength: 6,
        }),
        async (messages) => {
          const { node, stream } = open();
          const s = await node.accept();
          await tick();
          const call = outcome(stream.invoke({ body }, LONG));
          await tick();
          for (const message of messages) s.raw(message);
          expect(["open", "connecting"]).toContain(stream.state);
          stream.close();
          expect(await call).toBeInstanceOf(Error);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("heartbeat", () => {
  it("pings, stays up while the node answers, and declares it dead when it stops", async () => {
    const { node, stream } = open({ pingIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 });
    const s = await node.accept();
    await tick();
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      const ping = s.sent.at(-1);
      expect(ping?.kind).toBe("ping");
      if (ping?.kind === "ping")
        s.deliver({ kind: "pong", id: ping.id, timestamp: ping.timestamp });
    }
    expect(stream.stats()).toMatchObject({ pingsSent: 10, pongs: 10, heartbeatTimeouts: 0 });

    const acked = outcome(stream.invoke({ body }, LONG));
    const unacked = outcome(stream.invoke({ body }, LONG));
    await tick();
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(s.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.closedWith?.code).toBe(CLOSE_CODES.heartbeatTimeout);
    expect(await acked).toBeInstanceOf(LostAfterAckError);
    expect(await unacked).toBeInstanceOf(NotAckedError);
    expect(stream.stats().heartbeatTimeouts).toBe(1);
  });

  it("answers the node's pings", async () => {
    const { node } = open();
    const s = await node.accept();
    await tick();
    s.deliver({ kind: "ping", id: 7, timestamp: 123.5 });
    expect(s.sent).toEqual([{ kind: "pong", id: 7, timestamp: 123.5 }]);
  });
});

describe("connect", () => {
  it("times out, fails queued work as NotAcked, and closes a socket that arrives late", async () => {
    const { node, stream } = open({ connectTimeoutMs: 1_000 });
    const a = outcome(stream.invoke({ body }, LONG));
    await tick();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await a).toBeInstanceOf(NotAckedError);
    const first = node.attempts[0];
    expect(first?.signal.aborted).toBe(true);
    expect(stream.stats().connectFailures).toBe(1);
    const late = new FakeSocket();
    first?.resolve(late);
    await vi.advanceTimersByTimeAsync(0);
    expect(late.closedWith?.reason).toBe("connect abandoned");

    // Until a socket opens again, new work fails fast instead of queueing for a dead node.
    expect(await outcome(stream.invoke({ body }, LONG))).toMatchObject({
      name: "NotAckedError",
      message: expect.stringMatching(/node unreachable: connect failed: connect timed out/),
    });
    await vi.advanceTimersByTimeAsync(100);
    const s = await node.accept();
    const b = stream.invoke({ body }, LONG);
    await tick();
    s.deliver(
      { kind: "ack", id: 2 },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("up") },
    );
    expect(text((await b).body)).toBe("up");
  });

  it("backs off between failed attempts", () => {
    const delays = [0, 1, 2, 3, 10].map((attempt) =>
      [0, 0.5, 1].map((r) => reconnectDelay(attempt, { initialMs: 50, maxMs: 1_000 }, () => r)),
    );
    expect(delays).toEqual([
      [25, 38, 50],
      [50, 75, 100],
      [100, 150, 200],
      [200, 300, 400],
      [500, 750, 1_000],
    ]);
  });
});

describe("caller deadlines and signals", () => {
  it("reports the phase reached and keeps the window honest for abandoned invocations", async () => {
    const { node, stream } = open({ window: 1 });
    const s = await node.accept();
    await tick();
    const a = outcome(stream.invoke({ body }, { deadlineMs: 300 }));
    await tick();
    const b = outcome(stream.invoke({ body }, { deadlineMs: 100 }));
    await tick();
    await vi.advanceTimersByTimeAsync(100);
    expect(await b).toMatchObject({ name: "DeadlineError", phase: "queued", mayHaveRun: false });
    await vi.advanceTimersByTimeAsync(200);
    const error = await a;
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error).toMatchObject({ phase: "sent", mayHaveRun: true });

    // The node may still ack the abandoned invocation, so its window slot stays taken.
    const c = stream.invoke({ body }, LONG);
    await tick();
    expect(s.invokes()).toEqual([1]);
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    expect(s.invokes()).toEqual([1, 3]);
    s.deliver(
      { kind: "result", id: 1, status: 200, contentType: "", body },
      { kind: "ack", id: 3 },
      { kind: "result", id: 3, status: 201, contentType: "", body },
    );
    expect((await c).status).toBe(201);
    expect(stream.stats()).toMatchObject({ late: 1, deadlines: 2, inFlight: 0 });
  });

  it("aborts with the phase reached", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    const controller = new AbortController();
    const a = outcome(stream.invoke({ body }, { ...LONG, signal: controller.signal }));
    await tick();
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    controller.abort(new Error("client went away"));
    const error = await a;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ phase: "acked", mayHaveRun: true });
    expect(
      await outcome(stream.invoke({ body }, { ...LONG, signal: controller.signal })),
    ).toMatchObject({ phase: "waiting" });
  });
});

describe("goaway", () => {
  it("drains the old socket, closes it once drained, and sends new work on a new one", async () => {
    const { node, stream } = open();
    const s1 = await node.accept();
    await tick();
    const a = stream.invoke({ body }, LONG);
    await tick();
    s1.deliverBatch({ kind: "ack", id: 1 }, { kind: "goaway", id: 0, reason: "deploy" });
    expect(node.attempts).toHaveLength(2);
    const b = stream.invoke({ body: bytes("b") }, LONG);
    await tick();
    expect(s1.invokes()).toEqual([1]);
    const s2 = await node.accept();
    await tick();
    expect(s2.invokes()).toEqual([2]);
    expect(stream.stats()).toMatchObject({ state: "open", draining: 1 });

    s1.deliver({ kind: "result", id: 1, status: 200, contentType: "", body: bytes("a") });
    expect(text((await a).body)).toBe("a");
    expect(s1.closedWith).toEqual({ code: CLOSE_CODES.normal, reason: "drained" });
    expect(stream.stats().draining).toBe(0);
    s2.deliver(
      { kind: "ack", id: 2 },
      { kind: "result", id: 2, status: 200, contentType: "", body: bytes("b") },
    );
    expect(text((await b).body)).toBe("b");
  });
});
