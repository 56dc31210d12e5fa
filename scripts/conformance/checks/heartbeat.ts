// Ping and pong, both ways.
import type { Frame } from "../../../src/transport/frame.ts";
import { type Check, expect } from "../check.ts";
import { concat, ping } from "../frames.ts";
import { formatClose } from "../raw-stream.ts";

/** The node's silence limit, and how late after it the close may come (one ping interval). */
const SILENCE_MS = 15_000;
const SILENCE_SLACK_MS = 5_500;

/** Checks of protocol.md "Connection" (pings) and "Node libraries" (heartbeat from the node). */
export const heartbeatChecks: Check[] = [
  {
    id: "C-PING-1",
    description: "a ping is answered by a pong echoing its id and timestamp",
    async run(context) {
      const stream = await context.raw();
      stream.send(concat(ping(77, 12345.5), ping(0, -1.25)));
      const pong = (id: number) => (f: Frame) => f.kind === "pong" && f.id === id;
      const first = await stream.waitFor(pong(77), "pong for ping 77");
      const second = await stream.waitFor(pong(0), "pong for ping 0");
      expect(
        first.kind === "pong" && first.timestamp === 12345.5,
        `pong 77 has timestamp ${"timestamp" in first ? first.timestamp : "?"}`,
      );
      expect(
        second.kind === "pong" && second.timestamp === -1.25,
        `pong 0 has timestamp ${"timestamp" in second ? second.timestamp : "?"}`,
      );
      stream.assertClean();
    },
  },
  {
    id: "C-PING-2",
    description: "the node pings on its own within 6 s (every 5 s)",
    timeoutMs: 7_000,
    async run(context) {
      const stream = await context.raw();
      const nodePing = await stream.waitFor((f) => f.kind === "ping", "ping from the node", 6_000);
      expect(
        nodePing.kind === "ping" && Number.isFinite(nodePing.timestamp),
        "ping timestamp is not finite",
      );
    },
  },

  {
    id: "C-PING-3",
    description: "the node closes with 4003 a stream on which no frame arrives for 15 s",
    background: true,
    timeoutMs: SILENCE_MS + SILENCE_SLACK_MS + 2_000,
    async run(context) {
      const stream = await context.raw();
      const opened = Date.now();
      // Silent: the node's own pings go unanswered.
      const info = await stream.waitClose("a silent stream", SILENCE_MS + SILENCE_SLACK_MS);
      const after = Date.now() - opened;
      expect(
        info.code === 4003,
        `closed with ${formatClose(info)} after ${after} ms, expected 4003`,
      );
      expect(
        after >= SILENCE_MS - 500,
        `closed with 4003 after ${after} ms, before 15 s of silence`,
      );
    },
  },
];
