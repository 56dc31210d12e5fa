import type { NodeFetcher } from "./egress.ts";

/**
 * The one place a node is fetched for a proxied attempt, whichever path the attempt takes: from
 * the node's gate object, or from the isolate itself on a leased slot.
 */

/** The request an attempt sends, as plain data (it crosses into the gate as it is). */
export interface NodeRequest {
  readonly url: string;
  readonly method: string;
  /** Header lines as [name, value], repeats kept. */
  readonly headers: [string, string][];
  readonly body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/** How a fetch of a node ended before anything of its body was read. */
export type NodeFetch =
  | {
      readonly kind: "response";
      readonly response: Response;
      /**
       * Reads a small body whole within `waitMs`; undefined when the node fails or stalls it, in
       * which case the body is aborted. The per-try timer has already stopped at the headers.
       */
      readonly readWhole: (waitMs: number) => Promise<ArrayBuffer | undefined>;
    }
  | { readonly kind: "network-error" | "timeout"; readonly detail: string };

/** How long a fetch of a node may take, and what else may cut it short. */
export interface FetchLimits {
  /** The per-try timeout: time to response headers once the request is sent. */
  readonly timeoutMs: number;
  /** Time a streamed upload may take to go out; default the per-try timeout. */
  readonly uploadLimitMs?: number;
  /** Aborts the fetch (and the response body) when it fires: a hedge's loser. */
  readonly cancel?: AbortSignal;
  /**
   * What runs the fetch. A request's timers lapse with it, so its timeout is a native timeout
   * signal that is never cleared: clearing a timer on every request cost more CPU than the rest
   * of the timeout. A Durable Object stays active while a timer is pending, so it clears its own.
   */
  readonly host?: "request" | "object";
}

/**
 * Fetches the node. The per-try timer covers the wait for response headers once the request has
 * been sent, as Envoy's does: a streamed upload gets until `uploadLimitMs` (the time left of the
 * dispatch) to go out, and the per-try timer starts when its last byte has been handed over. The
 * timer stops at the response headers; reading the body is the caller's to bound.
 */
export async function fetchNode(
  via: NodeFetcher,
  request: NodeRequest,
  { timeoutMs, uploadLimitMs = timeoutMs, cancel, host = "request" }: FetchLimits,
): Promise<NodeFetch> {
  const abort = new AbortController();
  cancel?.addEventListener("abort", () => abort.abort(), { once: true });
  // What a timer that fires now would cut short; once the headers are in, nothing.
  let phase: "upload" | "headers" | "answered" = "headers";
  let expired: "upload" | "headers" | undefined;
  let clear = () => {};
  const timeAfter = (ms: number, waitingFor: "upload" | "headers") => {
    clear();
    phase = waitingFor;
    const fire = () => {
      if (phase !== waitingFor) return;
      expired = waitingFor;
      abort.abort();
    };
    if (host === "request" && waitingFor === "headers") {
      AbortSignal.timeout(ms).addEventListener("abort", fire, { once: true });
      return;
    }
    const timer = setTimeout(fire, ms);
    clear = () => clearTimeout(timer);
  };
  let body = request.body;
  if (body instanceof ReadableStream) {
    timeAfter(uploadLimitMs, "upload");
    body = body.pipeThrough(new TransformStream({ flush: () => timeAfter(timeoutMs, "headers") }));
  } else {
    timeAfter(timeoutMs, "headers");
  }
  try {
    const response = await via(request.url, {
      method: request.method,
      headers: request.headers,
      body,
      redirect: "manual",
      signal: abort.signal,
      // The node's body comes back as the node encoded it (for the Accept-Encoding the client
      // sent, which is forwarded as it came), not decoded by the runtime.
      encodeResponseBody: "manual",
    });
    phase = "answered";
    clear();
    return {
      kind: "response",
      response,
      readWhole: (waitMs) => readWhole(response, abort, waitMs),
    };
  } catch (error) {
    clear();
    if (expired === "upload") {
      return { kind: "timeout", detail: `the upload did not finish within ${uploadLimitMs} ms` };
    }
    if (expired === "headers") {
      const after = request.body instanceof ReadableStream ? " of the upload" : "";
      return { kind: "timeout", detail: `no response headers within ${timeoutMs} ms${after}` };
    }
    if (abort.signal.aborted) return { kind: "timeout", detail: "cancelled" };
    return { kind: "network-error", detail: (error as Error).message };
  }
}

/** Reads a small body whole within `waitMs`, or aborts it and answers undefined. */
async function readWhole(
  response: Response,
  abort: AbortController,
  waitMs: number,
): Promise<ArrayBuffer | undefined> {
  const bodyTimer = setTimeout(() => abort.abort(), waitMs);
  try {
    return await response.arrayBuffer();
  } catch {
    return undefined;
  } finally {
    clearTimeout(bodyTimer);
  }
}

/** Whether a node's answer counts against its health (the same rule on both paths). */
export function isFailureStatus(status: number): boolean {
  return status >= 500;
}
