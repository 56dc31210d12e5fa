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
      /** Stops the per-try timer; until then it can still abort the body. */
      readonly settle: () => void;
    }
  | { readonly kind: "network-error" | "timeout"; readonly detail: string };

/**
 * Fetches the node with a per-try timer on the response headers. The caller settles the timer
 * once it has what it needs of the response (the headers, or a small body it reads whole).
 */
export async function fetchNode(
  via: NodeFetcher,
  request: NodeRequest,
  timeoutMs: number,
): Promise<NodeFetch> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await via(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: abort.signal,
    });
    return { kind: "response", response, settle: () => clearTimeout(timer) };
  } catch (error) {
    clearTimeout(timer);
    if (abort.signal.aborted) {
      return { kind: "timeout", detail: `no response headers within ${timeoutMs} ms` };
    }
    return { kind: "network-error", detail: (error as Error).message };
  }
}

/** Whether a node's answer counts against its health (the same rule on both paths). */
export function isFailureStatus(status: number): boolean {
  return status >= 500;
}
