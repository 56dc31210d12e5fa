// The ack handshake, pipelining and per-stream order.
import { type Check, expect } from "../check.ts";
import { concat, count, invoke, text } from "../frames.ts";

const utf8 = new TextEncoder();
const ORDERED = 20;

/** Checks of protocol.md "Semantics": ack, order, pipelining. */
export const handshakeChecks: Check[] = [
  {
    id: "C-ACK-1",
    description: "every invocation is acked before its answer and answered exactly once",
    async run(context) {
      const stream = await context.raw();
      const calls = [
        invoke(1, { body: "default" }),
        invoke(2, { fn: "echo", body: "echo" }),
        invoke(3, { fn: "idem", body: "idem" }),
        invoke(4, { fn: "fail", body: "on purpose" }),
        invoke(5, { fn: "sleep", body: "50" }),
        invoke(6, { fn: "no-such-function" }),
        invoke(7, { fn: "small", body: "x".repeat(17) }),
        invoke(8, { fn: "seq" }),
        invoke(9, { fn: "echo", body: "" }),
      ];
      const ids = calls.map((_, i) => i + 1);
      stream.send(concat(...calls), ids);
      for (const id of ids) {
        await stream.waitFor(
          (f) => (f.kind === "result" || f.kind === "error") && f.id === id,
          `answer for id ${id}`,
        );
        expect(
          stream.frames.some((f) => f.kind === "ack" && f.id === id),
          `id ${id} was answered without an ack`,
        );
      }
      // Long enough for a duplicate answer sent on the heels of the first to show.
      await new Promise((resolve) => setTimeout(resolve, 200));
      stream.assertClean();
    },
  },
  {
    id: "C-PIPE-1",
    description: "invocations run concurrently and answer out of order (sleep 200, then echo)",
    async run(context) {
      const gateway = context.gateway();
      const order: string[] = [];
      const slow = gateway
        .invoke({ function: "sleep", body: utf8.encode("200") }, { deadlineMs: 3_000 })
        .then(() => order.push("sleep"));
      const fast = gateway
        .invoke({ function: "echo", body: utf8.encode("quick") }, { deadlineMs: 3_000 })
        .then(() => order.push("echo"));
      await Promise.all([slow, fast]);
      expect(order[0] === "echo", `results arrived in the order ${order.join(", ")}`);
    },
  },
  {
    id: "C-ORDER-1",
    description: `${ORDERED} seq invocations written in one message start in id order`,
    async run(context) {
      const gateway = context.gateway();
      // Called in one task, the gateway's client writes them in one message, in call order.
      const results = await Promise.all(
        Array.from({ length: ORDERED }, () =>
          gateway.invoke({ function: "seq", body: new Uint8Array() }, { deadlineMs: 3_000 }),
        ),
      );
      const values = results.map((result) => count(result.body));
      const first = values[0];
      expect(
        first !== undefined,
        `seq answered ${JSON.stringify(text(results[0]?.body ?? new Uint8Array()))}`,
      );
      const expected = values.map((_, i) => first + i);
      expect(
        values.every((value, i) => value === expected[i]),
        `seq answered ${values.join(",")} in id order`,
      );
    },
  },
];
