// The gateway vanishing mid-invocation (protocol.md "Node libraries": lost stream).
import type { NodeStream } from "../../../src/transport/node-stream.ts";
import { type Check, type CheckContext, expect } from "../check.ts";
import { count as countOf, describe, invoke, text } from "../frames.ts";

const utf8 = new TextEncoder();

async function abortedCount(gateway: NodeStream): Promise<number> {
  const result = await gateway.invoke(
    { function: "aborted", body: new Uint8Array() },
    { deadlineMs: 3_000 },
  );
  const count = countOf(result.body);
  if (result.status !== 200 || count === undefined) {
    throw new Error(`aborted answered ${result.status} ${JSON.stringify(text(result.body))}`);
  }
  return count;
}

interface Dropped {
  /** The aborted count before the drop, and the last one read after it. */
  before: number;
  after: number;
  /** Why the scenario could not complete, if it did not. */
  why?: string;
}

/** Acks a long sleep on one stream, drops that stream, and watches the abort count. */
async function dropMidInvocation(context: CheckContext): Promise<Dropped> {
  const gateway = context.gateway();
  const before = await abortedCount(gateway);
  const stream = await context.raw();
  stream.send(invoke(1, { fn: "sleep", body: "5000" }), [1]);
  await stream.waitFor((f) => f.kind === "ack" && f.id === 1, "ack of sleep 5000");
  stream.terminate();
  let after = before;
  const deadline = Date.now() + 2_000;
  while (after <= before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = await abortedCount(gateway);
  }
  return { before, after };
}

/** Checks of the lost-stream behaviour. */
export const lossChecks: Check[] = [
  {
    id: "C-LOSS-1",
    description: "a dropped stream's running invocation is cancelled (aborted count rises)",
    async run(context) {
      const dropped = await context.scenario("drop", () => dropMidInvocation(context));
      expect(
        dropped.after > dropped.before,
        `aborted stayed at ${dropped.before} for 2 s after the stream with an acked sleep dropped`,
      );
    },
  },
  {
    id: "C-LOSS-2",
    description: "after a dropped stream the node serves new streams, replaying nothing on them",
    async run(context) {
      await context.scenario("drop", () => dropMidInvocation(context));
      const stream = await context.raw();
      stream.send(invoke(7, { fn: "echo", body: "still here" }), [7]);
      const answer = await stream.waitFor(
        (f) => (f.kind === "result" || f.kind === "error") && f.id === 7,
        "echo on a new stream",
      );
      expect(
        answer.kind === "result" && text(answer.body) === "still here",
        `echo answered ${describe(answer)}`,
      );
      // Only id 7 was invoked here: any other answer would be the old stream's, replayed.
      await new Promise((resolve) => setTimeout(resolve, 200));
      stream.assertClean();
      const gateway = context.gateway();
      const result = await gateway.invoke(
        { function: "echo", body: utf8.encode("again") },
        { deadlineMs: 3_000 },
      );
      expect(text(result.body) === "again", "the gateway's client got a wrong echo");
    },
  },
];
