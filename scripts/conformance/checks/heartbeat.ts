// Ping and pong, both ways.
import type { Frame } from "../../../src/transport/frame.ts";
import { type Check, expect } from "../check.ts";
import { concat, ping } from "../frames.ts";

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
];
