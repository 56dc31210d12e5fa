import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { LostAfterAckError, NotAckedError } from "../../src/transport/errors.ts";
import { CLOSE_CODES, ERROR_CODES } from "../../src/transport/protocol.ts";
import { canMove, type LinkState } from "../../src/transport/stream-state.ts";
import { body, type FakeSocket, LONG, open, tick, useFakeLinkClock } from "./fake-link.ts";
import { bytes, outcome, text } from "./transport-harness.ts";

useFakeLinkClock();

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

  it("names the function on the wire, whether written at once or queued", async () => {
    const { node, stream } = open({ window: 1 });
    const s = await node.accept();
    await tick();
    const first = outcome(stream.invoke({ body, function: "resize" }, LONG));
    const second = outcome(stream.invoke({ body, function: "thumb.v2" }, LONG));
    const third = outcome(stream.invoke({ body }, LONG));
    await tick();
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    s.deliver({ kind: "ack", id: 2 });
    await tick();
    const invokes = s.sent.filter((f) => f.kind === "invoke");
    expect(invokes.map((f) => f.function)).toEqual(["resize", "thumb.v2", undefined]);
    s.remoteClose(1011, "gone");
    await Promise.all([first, second, third]);
  });

  it("refuses a function name the protocol cannot carry, before sending anything", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    await expect(stream.invoke({ body, function: "../etc" }, LONG)).rejects.toMatchObject({
      code: "payload",
    });
    await tick();
    expect(s.invokes()).toEqual([]);
  });

  it("marks a loss after a retryable ack as retryable, and after a plain ack as not", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    const idem = outcome(stream.invoke({ body, function: "idem" }, LONG));
    const plain = outcome(stream.invoke({ body, function: "echo" }, LONG));
    await tick();
    s.deliver({ kind: "ack", id: 1, retryable: true }, { kind: "ack", id: 2 });
    s.remoteClose(1011, "node crashed");
    const [a, b] = [await idem, await plain];
    expect(a).toBeInstanceOf(LostAfterAckError);
    expect(b).toBeInstanceOf(LostAfterAckError);
    expect((a as LostAfterAckError).retryable).toBe(true);
    expect((b as LostAfterAckError).retryable).toBe(false);
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

  it("writes calls the window allows at once and queues the rest, all in call order", async () => {
    const { node, stream } = open({ window: 2 });
    const s = await node.accept();
    await tick();
    const calls = [1, 2, 3, 4, 5].map((i) => stream.invoke({ body: bytes(String(i)) }, LONG));
    expect(stream.stats()).toMatchObject({ unacked: 2, queueDepth: 3, sent: 2 });
    await tick();
    expect(s.invokes()).toEqual([1, 2]);
    expect(s.messages).toBe(1);
    s.deliverBatch({ kind: "ack", id: 1 }, { kind: "ack", id: 2 });
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3, 4]);
    expect(s.messages).toBe(2);
    // An ack frees the window while one is still queued: the queue goes first.
    s.deliver({ kind: "ack", id: 3 });
    const late = stream.invoke({ body: bytes("6") }, LONG);
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3, 4, 5]);
    s.deliver({ kind: "ack", id: 4 });
    await tick();
    expect(s.invokes()).toEqual([1, 2, 3, 4, 5, 6]);
    for (const id of [1, 2, 3, 4, 5, 6]) {
      if (id > 4) s.deliver({ kind: "ack", id });
      s.deliver({ kind: "result", id, status: 200, contentType: "", body: bytes(`r${id}`) });
    }
    expect((await Promise.all([...calls, late])).map((r) => text(r.body))).toEqual(
      [1, 2, 3, 4, 5, 6].map((id) => `r${id}`),
    );
  });

  it("copies the body whether the call is written at once or queued", async () => {
    const { node, stream } = open({ window: 1 });
    const s = await node.accept();
    await tick();
    const body = bytes("abc");
    const sent = stream.invoke({ body, contentType: "text/plain" }, LONG);
    body.set(bytes("xyz"));
    const queued = stream.invoke({ body, contentType: "text/plain" }, LONG);
    body.set(bytes("!!!"));
    await tick();
    s.deliver({ kind: "ack", id: 1 });
    await tick();
    const bodies = s.sent.map((f) => (f.kind === "invoke" ? text(f.body) : f.kind));
    expect(bodies).toEqual(["abc", "xyz"]);
    void outcome(sent);
    void outcome(queued);
  });

  it("sends a frame larger than a batch alone, and the frames after it in the next message", async () => {
    const { node, stream } = open();
    const s = await node.accept();
    await tick();
    const big = new Uint8Array(100_000).fill(7);
    void outcome(stream.invoke({ body: bytes("a") }, LONG));
    void outcome(stream.invoke({ body: big }, LONG));
    void outcome(stream.invoke({ body: bytes("b") }, LONG));
    await tick();
    expect(s.messages).toBe(3);
    expect(s.sent.map((f) => (f.kind === "invoke" ? f.body.byteLength : -1))).toEqual([
      1, 100_000, 1,
    ]);
    const second = s.sent[1];
    expect(second?.kind === "invoke" && second.body.every((b) => b === 7)).toBe(true);
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
