import type { NodeFetcher } from "./egress.ts";

/**
 * The one place a node is fetched for a proxied attempt, whichever path the attempt takes: from
 * the node's gate object, or from the isolate itself on a leased slot.
 */

/** The request an attempt sends, as plain data (it crosses into the gate as it is). */
export interface NodeRequest {
  readonly url: string;
  readonly method: string;
  /** Header lines: a Headers object from an isolate, [name, value] pairs across RPC to a gate. */
  readonly headers: Headers | [string, string][];
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
  { timeoutMs, uploadLimitMs = timeoutMs, cancel }: FetchLimits,
): Promise<NodeFetch> {
  const abort = new AbortController();
  cancel?.addEventListener("abort", () => abort.abort(), { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let why = "";
  const stop = () => {
    if (timer !== undefined) clearTimeout(timer);
  };
  const arm = (ms: number, reason: string) => {
    stop();
    why = reason;
    timer = setTimeout(() => abort.abort(), ms);
  };
  let body = request.body;
  if (body instanceof ReadableStream) {
    arm(uploadLimitMs, `the upload did not finish within ${uploadLimitMs} ms`);
    const headersAfterUpload = `no response headers within ${timeoutMs} ms of the upload`;
    body = body.pipeThrough(
      new TransformStream({ flush: () => arm(timeoutMs, headersAfterUpload) }),
    );
  } else {
    arm(timeoutMs, `no response headers within ${timeoutMs} ms`);
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
    stop();
    const readWhole = async (waitMs: number) => {
      const bodyTimer = setTimeout(() => abort.abort(), waitMs);
      try {
        return await response.arrayBuffer();
      } catch {
        return undefined;
      } finally {
        clearTimeout(bodyTimer);
      }
    };
    return { kind: "response", response, readWhole };
  } catch (error) {
    stop();
    if (abort.signal.aborted) return { kind: "timeout", detail: why };
    return { kind: "network-error", detail: (error as Error).message };
  }
}

/** Whether a node's answer counts against its health (the same rule on both paths). */
export function isFailureStatus(status: number): boolean {
  return status >= 500;
}
