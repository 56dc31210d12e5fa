import { afterEach, describe, expect, it } from "vitest";
import type { StreamServerOptions } from "../../backend/stream-server.ts";
import { LostAfterAckError, NotAckedError } from "../../src/transport/errors.ts";
import type { InvokeResult } from "../../src/transport/node-stream.ts";
import type { NodeStreamOptions } from "../../src/transport/node-stream-types.ts";
import {
  bytes,
  type Cleanups,
  latch,
  outcome,
  startStreamFixture,
  type TestNode,
  text,
  waitFor,
} from "./transport-harness.ts";

const cleanups: Cleanups = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  nodeOptions: StreamServerOptions = {},
  streamOptions: Partial<NodeStreamOptions> = {},
) {
  const fixture = await startStreamFixture(cleanups, nodeOptions, {
    backoff: { initialMs: 5, maxMs: 20 },
    ...streamOptions,
  });
  await waitFor(() => fixture.stream.state === "open");
  return fixture;
}

const DEADLINE = { deadlineMs: 5_000 };

/** A handler that records what ran and holds bodies starting with "hold" until released. */
function holdingHandler() {
  const release = latch();
  const ran: string[] = [];
  return {
    ran,
    release: release.open,
    handler: {
      async invoke(request: { text(): string; body: Uint8Array }) {
        ran.push(request.text());
        if (request.text().startsWith("hold")) await release.opened;
        return request.body;
      },
    },
  };
}

function allExecutedAtMostOnce(test: TestNode, maxId: number): boolean {
  for (let id = 1; id <= maxId; id++) if (test.node.executions(id) > 1) return false;
  return true;
}

describe("node closes the stream mid-flight", () => {
  it("before acking: acked ones are LostAfterAck, the rest NotAcked, and nothing runs twice", async () => {
    const h = holdingHandler();
    const { stream, test, audit } = await setup({
      handler: h.handler,
      faults: { onInvoke: { nth: 4, action: "close-before-ack" } },
    });
    const names = ["hold-a", "hold-b", "hold-c", "d", "e", "f"];
    const outcomes = await Promise.all(
      names.map((name) => outcome(stream.invoke({ body: bytes(name) }, DEADLINE))),
    );
    for (const error of outcomes.slice(0, 3)) {
      expect(error).toBeInstanceOf(LostAfterAckError);
      expect((error as LostAfterAckError).mayHaveRun).toBe(true);
    }
    for (const error of outcomes.slice(3)) {
      expect(error).toBeInstanceOf(NotAckedError);
      expect((error as NotAckedError).mayHaveRun).toBe(false);
    }
    expect([1, 2, 3, 4, 5, 6].map((id) => test.node.executions(id))).toEqual([1, 1, 1, 0, 0, 0]);
    expect(h.ran).toEqual(["hold-a", "hold-b", "hold-c"]);

    // NotAcked is safe to retry: each retried body runs exactly once, on the new stream.
    h.release();
    const retried = await Promise.all(
      ["d", "e", "f"].map((name) => stream.invoke({ body: bytes(name) }, DEADLINE)),
    );
    expect(retried.map((r) => text(r.body))).toEqual(["d", "e", "f"]);
    expect(h.ran).toEqual(names);
    expect(allExecutedAtMostOnce(test, 9)).toBe(true);
    expect(stream.stats()).toMatchObject({ lostAfterAck: 3, notAcked: 3, reconnects: 1 });
    expect(audit.sendsAfterClose).toBe(0);
  });

  it("after acking: the acked invocations ran once and fail LostAfterAck", async () => {
    const h = holdingHandler();
    const { stream, test } = await setup({
      handler: h.handler,
      faults: { onInvoke: { nth: 2, action: "close-after-ack" } },
    });
    const outcomes = await Promise.all(
      ["hold-a", "hold-b", "c"].map((name) =>
        outcome(stream.invoke({ body: bytes(name) }, DEADLINE)),
      ),
    );
    expect(outcomes[0]).toBeInstanceOf(LostAfterAckError);
    expect(outcomes[1]).toBeInstanceOf(LostAfterAckError);
    expect(outcomes[2]).toBeInstanceOf(NotAckedError);
    expect([1, 2, 3].map((id) => test.node.executions(id))).toEqual([1, 1, 0]);
    h.release();
  });
});

describe("reconnect while sends are in flight", () => {
  it("never sends on a closed socket and loses no reply sent after reconnecting", async () => {
    const executed = new Map<string, number>();
    const { stream, test, audit } = await setup({
      handler: {
        async invoke(request) {
          executed.set(request.text(), (executed.get(request.text()) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
          return request.body;
        },
      },
    });

    /** Retries only what is safe to retry; anything else is reported as the outcome. */
    const invokeWithRetry = async (name: string): Promise<InvokeResult | Error> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const result = await outcome(stream.invoke({ body: bytes(name) }, DEADLINE));
        if (!(result instanceof NotAckedError)) return result;
      }
      return new Error(`${name} was never acked`);
    };

    for (let round = 0; round < 3; round++) {
      test.node.setFaults({ onInvoke: { nth: 40, action: "close-before-ack" } });
      const names = Array.from({ length: 120 }, (_, i) => `r${round}-${i}`);
      const results = await Promise.all(names.map(invokeWithRetry));
      results.forEach((result, i) => {
        if (result instanceof LostAfterAckError) return;
        expect(result).not.toBeInstanceOf(Error);
        expect(text((result as InvokeResult).body)).toBe(names[i]);
      });
    }
    expect(stream.stats().reconnects).toBe(3);
    expect(audit.sockets).toBe(4);

    // Once reconnected, every invocation gets its reply.
    test.node.setFaults({});
    const after = await Promise.all(
      Array.from({ length: 200 }, (_, i) => stream.invoke({ body: bytes(`after-${i}`) }, DEADLINE)),
    );
    expect(after.map((r) => text(r.body))).toEqual(
      Array.from({ length: 200 }, (_, i) => `after-${i}`),
    );
    expect(audit.sendsAfterClose).toBe(0);
    expect([...executed.values()].every((n) => n === 1)).toBe(true);
    expect(allExecutedAtMostOnce(test, stream.stats().sent + 10)).toBe(true);
  });
});

describe("heartbeat", () => {
  it("declares a node that stops answering dead and fails in-flight work by ack state", async () => {
    const h = holdingHandler();
    const { stream, test, log } = await setup(
      { handler: h.handler },
      { pingIntervalMs: 20, heartbeatTimeoutMs: 100 },
    );
    await stream.invoke({ body: bytes("warm") }, DEADLINE);
    const held = outcome(stream.invoke({ body: bytes("hold") }, DEADLINE));
    await waitFor(() => stream.stats().acked === 2);
    test.node.setFaults({ ignorePings: true, ackDelayMs: 2_000 });
    const unacked = outcome(stream.invoke({ body: bytes("never") }, DEADLINE));

    expect(await held).toBeInstanceOf(LostAfterAckError);
    expect(await unacked).toBeInstanceOf(NotAckedError);
    expect(stream.stats().heartbeatTimeouts).toBeGreaterThanOrEqual(1);
    expect(
      log.some((e) => e.level === "warn" && e.message.includes("no frame from the node")),
    ).toBe(true);
    expect(test.node.executions(3)).toBe(0);
    h.release();
  });

  it("keeps a quiet but healthy stream alive", async () => {
    const { stream } = await setup({}, { pingIntervalMs: 10, heartbeatTimeoutMs: 50 });
    await waitFor(() => stream.stats().pongs >= 15);
    expect(stream.stats()).toMatchObject({ heartbeatTimeouts: 0, generation: 1, state: "open" });
  });
});

describe("malformed frames from the node", () => {
  it.each([
    ["malformed", "malformed frame (version)"],
    ["text", "text message"],
  ] as const)(
    "%s: closes that stream with a logged reason and recovers",
    async (action, reason) => {
      const { stream, log } = await setup({ faults: { onInvoke: { nth: 1, action } } });
      const first = await outcome(stream.invoke({ body: bytes("a") }, DEADLINE));
      expect(first).toBeInstanceOf(NotAckedError);
      expect(log.some((e) => e.level === "warn" && e.message.includes(reason))).toBe(true);
      expect(stream.stats().protocolErrors).toBe(1);
      const second = await stream.invoke({ body: bytes("b") }, DEADLINE);
      expect(text(second.body)).toBe("b");
      expect(stream.stats().generation).toBe(2);
    },
  );

  it("counts and ignores frames for unknown ids", async () => {
    const { stream } = await setup({ faults: { onInvoke: { nth: 1, action: "unknown-id" } } });
    const result = await stream.invoke({ body: bytes("a") }, DEADLINE);
    expect(text(result.body)).toBe("a");
    expect(stream.stats()).toMatchObject({ unknownIds: 1, protocolErrors: 0, generation: 1 });
  });
});

describe("goaway", () => {
  it("stops new work on the draining stream, finishes acked work, reconnects for new work", async () => {
    const h = holdingHandler();
    const { stream, test, audit } = await setup({
      handler: h.handler,
      faults: { onInvoke: { nth: 3, action: "goaway" } },
    });
    const held = ["hold-1", "hold-2"].map((name) => stream.invoke({ body: bytes(name) }, DEADLINE));
    const refused = await outcome(stream.invoke({ body: bytes("third") }, DEADLINE));
    expect(refused).toBeInstanceOf(NotAckedError);
    expect((refused as NotAckedError).rejected).toBe(true);

    const fresh = await stream.invoke({ body: bytes("fresh") }, DEADLINE);
    expect(text(fresh.body)).toBe("fresh");
    expect(test.node.stats().connections).toBe(2);
    expect(stream.stats()).toMatchObject({ draining: 1, goaways: 1, rejected: 1 });

    h.release();
    expect((await Promise.all(held)).map((r) => text(r.body))).toEqual(["hold-1", "hold-2"]);
    await waitFor(() => stream.stats().draining === 0 && test.node.stats().open === 1);
    expect(h.ran).toEqual(["hold-1", "hold-2", "fresh"]);
    expect(test.node.executions(3)).toBe(0);
    expect(audit.sendsAfterClose).toBe(0);
  });
});
