// What protocol.md "Node libraries" asks of every library beyond the wire: health, backpressure.
import { type Check, expect } from "../check.ts";
import { concat, invoke } from "../frames.ts";

const CONCURRENCY = 64;
const SLEEP_MS = 400;

/** Checks of protocol.md "Node libraries". */
export const libraryChecks: Check[] = [
  {
    id: "C-HEALTH-1",
    description: "GET /health answers 200 while the node serves",
    async run({ node }) {
      const response = await fetch(node.healthUrl, { signal: AbortSignal.timeout(2_000) });
      const body = await response.text();
      expect(response.status === 200, `GET /health answered ${response.status}`);
      expect(
        body.trim() === "ok",
        `GET /health answered ${JSON.stringify(body.slice(0, 40))}, expected ok`,
      );
    },
  },
  {
    id: "C-CONCURRENCY-1",
    description: `at most ${CONCURRENCY} invocations run at once; the next waits unacked, then runs`,
    async run(context) {
      const stream = await context.raw();
      const ids = Array.from({ length: CONCURRENCY + 1 }, (_, i) => i + 1);
      stream.send(
        concat(...ids.map((id) => invoke(id, { fn: "sleep", body: String(SLEEP_MS) }))),
        ids,
      );
      await stream.waitFor(
        (f) => f.kind === "ack" && f.id === CONCURRENCY,
        `ack of the ${CONCURRENCY}th sleep`,
      );
      // Well inside the sleeps, the last one must still be waiting.
      await new Promise((resolve) => setTimeout(resolve, SLEEP_MS / 4));
      const acked = stream.frames.filter((f) => f.kind === "ack").length;
      expect(
        acked === CONCURRENCY,
        `${acked} of ${ids.length} sleeps acked while ${CONCURRENCY} were running`,
      );
      const last = CONCURRENCY + 1;
      const lastAck = await stream.waitFor(
        (f) => f.kind === "ack" && f.id === last,
        `ack of sleep ${last} once one finished`,
        SLEEP_MS * 3,
      );
      const firstResult = stream.frames.findIndex((f) => f.kind === "result");
      expect(
        firstResult !== -1 && firstResult < stream.frames.indexOf(lastAck),
        `sleep ${last} was acked before any running sleep had finished`,
      );
      await stream.waitFor(
        (f) => f.kind === "result" && f.id === last,
        `result of sleep ${last}`,
        SLEEP_MS * 3,
      );
      stream.assertClean();
    },
  },
];
