import type { Call } from "./call.ts";
import { LostAfterAckError, NotAckedError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";

/**
 * Fails the invocations a closed link still carried: those the node acked may have run, so they
 * are lost after the ack and sent again only when the ack said the function is idempotent; the
 * others may go to another node.
 */
export function failClosedCalls(calls: Iterable<Call>, reason: string, metrics: Metrics): void {
  for (const call of calls) {
    if (call.acked) {
      if (call.reject(new LostAfterAckError(reason, call.retryable))) metrics.lostAfterAck++;
    } else if (call.reject(new NotAckedError(reason))) {
      metrics.notAcked++;
    }
  }
}

/** An error's message, for logs and close reasons. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
