// Named functions, retryable acks and per-function limits (protocol.md "Flags").
import type { InvokeResult } from "../../../src/transport/call.ts";
import { FunctionError } from "../../../src/transport/errors.ts";
import type { Frame } from "../../../src/transport/frame.ts";
import { ERROR_CODES } from "../../../src/transport/protocol.ts";
import { type Check, expect } from "../check.ts";
import { concat, describe, invoke, text } from "../frames.ts";

const utf8 = new TextEncoder();
const PROBLEM = "urn:roundhouse:problem:";

/** Throws unless `result` is a problem+json answer with `status` and problem type `type`. */
function expectProblem(
  result: { status: number; contentType: string; body: Uint8Array },
  status: number,
  type: string,
): void {
  const shown = `${result.status} ${result.contentType} ${JSON.stringify(text(result.body).slice(0, 160))}`;
  expect(result.status === status, `answered ${shown}, expected ${status}`);
  expect(
    result.contentType.split(";")[0]?.trim() === "application/problem+json",
    `answered ${shown}, expected content-type application/problem+json`,
  );
  let problem: { type?: unknown; status?: unknown };
  try {
    problem = JSON.parse(text(result.body)) as typeof problem;
  } catch {
    throw new Error(`answered ${shown}: the body is not JSON`);
  }
  expect(
    problem.type === `${PROBLEM}${type}`,
    `problem type ${JSON.stringify(problem.type)}, expected ${PROBLEM}${type}`,
  );
  expect(
    problem.status === status,
    `problem status ${JSON.stringify(problem.status)}, expected ${status}`,
  );
}

function asResult(frame: Frame): InvokeResult {
  if (frame.kind !== "result") throw new Error(`answered ${describe(frame)}, expected a result`);
  return frame;
}

/** Checks of protocol.md "Flags: named functions and retryable acks". */
export const functionChecks: Check[] = [
  {
    id: "C-FUNC-1",
    description: "an unnamed invoke runs the default function (echo with content-type)",
    async run(context) {
      const result = await context
        .gateway()
        .invoke(
          { body: utf8.encode("hello"), contentType: "text/x-conformance" },
          { deadlineMs: 3_000 },
        );
      expect(result.status === 200, `status ${result.status}`);
      expect(result.contentType === "text/x-conformance", `content-type "${result.contentType}"`);
      expect(text(result.body) === "hello", `body ${JSON.stringify(text(result.body))}`);
    },
  },
  {
    id: "C-FUNC-2",
    description: "a named invoke runs that function (echo, binary body)",
    async run(context) {
      const body = new Uint8Array([0, 1, 0xfe, 0xff, 0x80]);
      const result = await context
        .gateway()
        .invoke(
          { function: "echo", body, contentType: "application/octet-stream" },
          { deadlineMs: 3_000 },
        );
      expect(result.status === 200, `status ${result.status}`);
      expect(
        result.contentType === "application/octet-stream",
        `content-type "${result.contentType}"`,
      );
      expect(
        Buffer.from(result.body).equals(Buffer.from(body)),
        `body ${Buffer.from(result.body).toString("hex")}`,
      );
    },
  },
  {
    id: "C-FUNC-3",
    description: "an unknown function is acked (not retryable) and answered 404 unknown-function",
    async run(context) {
      const stream = await context.raw();
      stream.send(invoke(1, { fn: "no-such-function", body: "x" }), [1]);
      const ack = await stream.waitFor(
        (f) => f.kind === "ack" && f.id === 1,
        "ack for an unknown function",
      );
      expect(ack.kind === "ack" && !ack.retryable, "the ack carries retryable");
      const answer = await stream.waitFor(
        (f) => (f.kind === "result" || f.kind === "error") && f.id === 1,
        "answer",
      );
      expectProblem(asResult(answer), 404, "unknown-function");
      stream.assertClean();
    },
  },
  {
    id: "C-RETRY-1",
    description: "an idempotent function's ack carries retryable; a plain function's does not",
    async run(context) {
      const stream = await context.raw();
      stream.send(
        concat(invoke(1, { fn: "idem", body: "i" }), invoke(2, { fn: "echo", body: "e" })),
        [1, 2],
      );
      const idem = await stream.waitFor((f) => f.kind === "ack" && f.id === 1, "ack for idem");
      const echo = await stream.waitFor((f) => f.kind === "ack" && f.id === 2, "ack for echo");
      expect(idem.kind === "ack" && idem.retryable === true, "idem's ack lacks retryable");
      expect(echo.kind === "ack" && !echo.retryable, "echo's ack carries retryable");
      const answer = asResult(
        await stream.waitFor((f) => f.kind === "result" && f.id === 1, "idem's result"),
      );
      expect(text(answer.body) === "i", `idem answered ${JSON.stringify(text(answer.body))}`);
      stream.assertClean();
    },
  },
  {
    id: "C-FUNC-4",
    description:
      "a body over maxBodyBytes (small, 17 > 16 bytes) is answered 413 payload-too-large",
    async run(context) {
      const gateway = context.gateway();
      const fits = await gateway.invoke(
        { function: "small", body: utf8.encode("x".repeat(16)) },
        { deadlineMs: 3_000 },
      );
      expect(fits.status === 200, `16 bytes answered ${fits.status}, expected 200`);
      const over = await gateway.invoke(
        { function: "small", body: utf8.encode("x".repeat(17)) },
        { deadlineMs: 3_000 },
      );
      expectProblem(over, 413, "payload-too-large");
    },
  },
  {
    id: "C-FUNC-5",
    description: "no answer within timeoutMs (slow, 100 ms) is answered 504 function-timeout",
    async run(context) {
      const started = Date.now();
      const result = await context
        .gateway()
        .invoke({ function: "slow", body: new Uint8Array() }, { deadlineMs: 3_000 });
      const elapsed = Date.now() - started;
      expectProblem(result, 504, "function-timeout");
      expect(elapsed >= 90, `answered after ${elapsed} ms, before the 100 ms timeout`);
    },
  },
  {
    id: "C-FUNC-6",
    description:
      "a function that throws is answered, after its ack, by error code 1 with the message",
    async run(context) {
      const stream = await context.raw();
      stream.send(invoke(1, { fn: "fail", body: "out of widgets" }), [1]);
      const answer = await stream.waitFor(
        (f) => (f.kind === "result" || f.kind === "error") && f.id === 1,
        "answer",
      );
      expect(
        answer.kind === "error" && answer.code === ERROR_CODES.functionFailed,
        `answered ${describe(answer)}, expected error code 1`,
      );
      expect(
        answer.message.includes("out of widgets"),
        `message ${JSON.stringify(answer.message)}`,
      );
      stream.assertClean();
      // The gateway's own client reads it the same way.
      const failed = await context
        .gateway()
        .invoke({ function: "fail", body: utf8.encode("boom") }, { deadlineMs: 3_000 })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failed instanceof FunctionError, `the gateway's client got ${String(failed)}`);
    },
  },
];
