// Every check, in the order they run: the shared node's state matters to some (concurrency first,
// while nothing else runs); the heartbeat checks come last, as C-PING-3 runs in the background
// from the start and reports when its 15 s of silence are over.
import type { Check } from "../check.ts";
import { coalescingChecks } from "./coalescing.ts";
import { connectionChecks } from "./connection.ts";
import { drainChecks } from "./drain.ts";
import { functionChecks } from "./functions.ts";
import { handshakeChecks } from "./handshake.ts";
import { heartbeatChecks } from "./heartbeat.ts";
import { libraryChecks } from "./library.ts";
import { lossChecks } from "./loss.ts";
import { malformedChecks } from "./malformed.ts";

/** All checks of the suite. */
export const allChecks: readonly Check[] = [
  ...libraryChecks,
  ...connectionChecks,
  ...coalescingChecks,
  ...handshakeChecks,
  ...functionChecks,
  ...malformedChecks,
  ...lossChecks,
  ...drainChecks,
  ...heartbeatChecks,
];
