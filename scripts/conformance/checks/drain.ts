// Drain on SIGTERM, on a node of its own (protocol.md "Goaway" and "Node libraries": drain).
import { ERROR_CODES } from "../../../src/transport/protocol.ts";
import { type Check, type CheckContext, expect } from "../check.ts";
import { concat, describe, invoke } from "../frames.ts";
import { handshakeViolations } from "../ledger.ts";
import { exitText } from "../node-process.ts";
import { formatClose } from "../raw-stream.ts";

const SLEEP_MS = 600;
const LATE_IDS = [2, 3, 4];

/** What each step of the drain showed: a failure message, or undefined if it went right. */
interface Drain {
  goaway?: string | undefined;
  acked?: string | undefined;
  rejected?: string | undefined;
  handshake?: string | undefined;
  health?: string | undefined;
  close?: string | undefined;
  exit?: string | undefined;
}

async function step(run: () => Promise<void>): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Starts a node, acks a sleep on it, sends SIGTERM, and records what followed. */
async function drain(context: CheckContext): Promise<Drain> {
  const node = await context.fresh();
  const stream = await context.raw(node);
  stream.send(invoke(1, { fn: "sleep", body: String(SLEEP_MS) }), [1]);
  await stream.waitFor((f) => f.kind === "ack" && f.id === 1, `ack of sleep ${SLEEP_MS}`);
  node.signal("SIGTERM");
  const out: Drain = {};
  out.goaway = await step(async () => {
    const goaway = await stream.waitFor((f) => f.kind === "goaway", "goaway after SIGTERM", 2_000);
    expect(goaway.id === 0, `goaway with id ${goaway.id}`);
  });
  // Sent after the goaway, while the acked sleep keeps the node draining.
  stream.send(
    concat(...LATE_IDS.map((id) => invoke(id, { fn: id === 3 ? "idem" : "echo", body: "late" }))),
    LATE_IDS,
  );
  const health = fetch(node.healthUrl, { signal: AbortSignal.timeout(1_000) }).then(
    async (response) => {
      await response.arrayBuffer();
      return response.status;
    },
    (error: unknown) => `no answer (${(error as Error).message})`,
  );
  out.rejected = await step(async () => {
    for (const id of LATE_IDS) {
      const answer = await stream.waitFor(
        (f) => (f.kind === "error" || f.kind === "result") && f.id === id,
        `answer to invoke ${id} sent after goaway`,
        2_000,
      );
      expect(
        answer.kind === "error" && answer.code === ERROR_CODES.rejected,
        `invoke ${id} sent after goaway answered ${describe(answer)}`,
      );
      const ack = stream.frames.find((f) => f.kind === "ack" && f.id === id);
      expect(ack === undefined, `invoke ${id} sent after goaway was acked`);
    }
  });
  out.health = await step(async () => {
    const status = await health;
    expect(status === 503, `GET /health during drain answered ${status}`);
  });
  out.acked = await step(async () => {
    const answer = await stream.waitFor(
      (f) => (f.kind === "error" || f.kind === "result") && f.id === 1,
      `the acked sleep's answer`,
      SLEEP_MS + 2_000,
    );
    expect(answer.kind === "result", `the acked sleep answered ${describe(answer)}`);
    const goaway = stream.frames.findIndex((f) => f.kind === "goaway");
    expect(goaway !== -1, "no goaway arrived, so the drain is not what answered it");
    expect(
      stream.frames.indexOf(answer) > goaway,
      "the acked sleep was answered before the goaway",
    );
  });
  out.close = await step(async () => {
    const info = await stream.waitClose("after the drain", 3_000);
    expect(info.code === 1000, `stream closed with ${formatClose(info)}, expected 1000`);
  });
  out.handshake = handshakeViolations(stream.frames, stream.invoked).join("; ") || undefined;
  out.exit = await step(async () => {
    const timer = new Promise<undefined>((resolve) => setTimeout(resolve, 5_000, undefined));
    const info = await Promise.race([node.exited, timer]);
    expect(info !== undefined, "the node had not exited 5 s after its streams closed");
    expect(info.code === 0, `the node ended with ${exitText(info)}`);
  });
  return out;
}

function drainCheck(id: string, description: string, key: keyof Drain): Check {
  return {
    id,
    description,
    timeoutMs: 15_000,
    async run(context) {
      const result = await context.scenario("drain", () => drain(context));
      const failure = result[key];
      if (failure !== undefined) throw new Error(failure);
    },
  };
}

/** Checks of drain: one SIGTERM'd node, judged step by step. */
export const drainChecks: Check[] = [
  drainCheck("C-DRAIN-1", "on SIGTERM the node sends goaway (id 0) on its stream", "goaway"),
  drainCheck(
    "C-DRAIN-2",
    "invokes arriving after goaway get error code 2 (rejected), no ack",
    "rejected",
  ),
  drainCheck("C-DRAIN-3", "GET /health answers 503 while the node drains", "health"),
  drainCheck("C-DRAIN-4", "an invocation acked before goaway still gets its result", "acked"),
  drainCheck("C-DRAIN-5", "the drained stream closes with 1000", "close"),
  drainCheck("C-DRAIN-6", "the node process exits with status 0 after draining", "exit"),
  drainCheck("C-REJECT-1", "error code 2 is only ever sent instead of an ack", "handshake"),
];
