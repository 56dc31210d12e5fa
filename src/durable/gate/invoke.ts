import type { InvokeResult } from "../../transport/call.ts";
import {
  BusyError,
  DeadlineError,
  FunctionError,
  InvokeError,
  LostAfterAckError,
} from "../../transport/errors.ts";

/** How an invocation through a gate ended. */
export type InvokeOutcome =
  /** The function answered (any status). */
  | {
      readonly kind: "result";
      readonly status: number;
      readonly contentType: string;
      readonly body: Uint8Array;
    }
  /** The function ran and failed; the node's message is passed on. */
  | { readonly kind: "function-error"; readonly message: string }
  /** The node never accepted it: safe to send to another node. */
  | { readonly kind: "not-acked"; readonly detail: string; readonly ejectedUntil?: number }
  /** Never left the gateway: ejected node, or the gate's queue wait ran out. */
  | {
      readonly kind: "not-sent";
      readonly reason: "ejected" | "queue-timeout";
      readonly ejectedUntil?: number;
    }
  /**
   * The node accepted it and then the stream was lost: it may have run, so it is sent again only
   * when the node declared the function idempotent (`retryable`).
   */
  | {
      readonly kind: "lost-after-ack";
      readonly detail: string;
      readonly retryable: boolean;
      readonly ejectedUntil?: number;
    }
  /** The stream's queue is full: the caller should come back later. */
  | { readonly kind: "busy"; readonly retryAfterMs: number }
  /** No result before the deadline. */
  | { readonly kind: "timeout"; readonly acked: boolean };

/** Translates the transport's result or error into an outcome the dispatch loop can act on. */
export function outcomeOfInvoke(result: InvokeResult | unknown, acked: boolean): InvokeOutcome {
  if (!(result instanceof Error)) {
    const r = result as InvokeResult;
    // Copy out of the received frame: the view would otherwise keep the whole message alive.
    return { kind: "result", status: r.status, contentType: r.contentType, body: r.body.slice() };
  }
  if (result instanceof BusyError) return { kind: "busy", retryAfterMs: result.retryAfterMs };
  if (result instanceof FunctionError)
    return { kind: "function-error", message: result.nodeMessage };
  if (result instanceof DeadlineError) return { kind: "timeout", acked };
  if (result instanceof LostAfterAckError)
    return { kind: "lost-after-ack", detail: result.message, retryable: result.retryable };
  if (result instanceof InvokeError && !result.mayHaveRun)
    return { kind: "not-acked", detail: result.message };
  return { kind: "lost-after-ack", detail: result.message, retryable: false };
}
