import { describe, expect, it, vi } from "vitest";
import { reconnectDelay } from "../../src/transport/backoff.ts";
import {
  AbortedError,
  DeadlineError,
  LostAfterAckError,
  NotAckedError,
} from "../../src/transport/errors.ts";
import { CLOSE_CODES } from "../../src/transport/protocol.ts";
import { body, FakeSocket, LONG, open, tick, useFakeLinkClock } from "./fake-link.ts";
import { bytes, outcome, text } from "./transport-harness.ts";

useFakeLinkClock();

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
