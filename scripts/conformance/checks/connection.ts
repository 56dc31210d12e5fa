// Connection: the subprotocol handshake, the version byte, binary-only messages.
import { SUBPROTOCOL } from "../../../src/transport/protocol.ts";
import { type Check, expect } from "../check.ts";
import { patched, ping } from "../frames.ts";
import { upgrade } from "../raw-stream.ts";
import { violation } from "./violation.ts";

/** Checks of protocol.md "Connection". */
export const connectionChecks: Check[] = [
  {
    id: "C-SUBPROTO-1",
    description: "an upgrade that does not offer roundhouse.v1 is refused",
    async run({ node }) {
      for (const offered of [[], ["roundhouse.v0"]]) {
        const outcome = await upgrade(node.streamUrl, offered);
        if (outcome.opened) {
          outcome.socket.terminate();
          throw new Error(
            `upgrade offering [${offered.join(", ")}] was accepted (protocol "${outcome.protocol}")`,
          );
        }
      }
    },
  },
  {
    id: "C-SUBPROTO-2",
    description: "an upgrade offering roundhouse.v1 gets it selected",
    async run({ node }) {
      const outcome = await upgrade(node.streamUrl, ["roundhouse.v0", SUBPROTOCOL]);
      expect(outcome.opened, `upgrade refused: ${outcome.opened ? "" : outcome.error}`);
      outcome.socket.terminate();
      expect(outcome.protocol === SUBPROTOCOL, `node selected "${outcome.protocol}"`);
    },
  },
  violation("C-VERSION-1", "a frame with version byte 2 closes the stream with 4000", () =>
    patched(ping(1, 1), 0, 2),
  ),
  violation("C-TEXT-1", "a text message closes the stream with 4001", () => "not a frame", [4001]),
];
