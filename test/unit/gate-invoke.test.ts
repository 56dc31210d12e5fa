import { describe, expect, it } from "vitest";
import { outcomeOfInvoke } from "../../src/durable/gate/invoke.ts";
import {
  BusyError,
  DeadlineError,
  FunctionError,
  LostAfterAckError,
  NotAckedError,
} from "../../src/transport/errors.ts";

describe("outcomeOfInvoke", () => {
  it("passes a result on, copied out of the frame", () => {
    const frame = new Uint8Array([1, 2, 3, 4]);
    const outcome = outcomeOfInvoke(
      { status: 201, contentType: "a/b", body: frame.subarray(1, 3) },
      true,
    );
    expect(outcome).toEqual({
      kind: "result",
      status: 201,
      contentType: "a/b",
      body: new Uint8Array([2, 3]),
    });
    if (outcome.kind === "result") expect(outcome.body.buffer).not.toBe(frame.buffer);
  });

  it.each([
    ["a full queue", new BusyError(1500), { kind: "busy", retryAfterMs: 1500 }],
    ["a failed function", new FunctionError("boom"), { kind: "function-error", message: "boom" }],
    ["a deadline", new DeadlineError("sent"), { kind: "timeout", acked: false }],
  ] as const)("maps %s", (_label, error, expected) => {
    expect(outcomeOfInvoke(error, false)).toEqual(expected);
  });

  it("keeps a node that never acked apart from one that lost the stream after acking", () => {
    expect(outcomeOfInvoke(new NotAckedError("closed", false), false).kind).toBe("not-acked");
    expect(outcomeOfInvoke(new LostAfterAckError("closed"), true)).toMatchObject({
      kind: "lost-after-ack",
      retryable: false,
    });
    expect(outcomeOfInvoke(new LostAfterAckError("closed", true), true)).toMatchObject({
      kind: "lost-after-ack",
      retryable: true,
    });
    expect(outcomeOfInvoke(new Error("unexpected"), false).kind).toBe("lost-after-ack");
  });
});
