import type { ResolvedService } from "../config/load.ts";
import type { Dispatched } from "../dispatch/attempt-loop.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";

/**
 * Writes the request's line once its answer's headers are ready: which node answered after how
 * many attempts, or which problem the gateway answered with instead. A plain success (one
 * attempt, a node's answer below 500) is sampled; anything else is always written.
 */
export async function logRequest(
  kind: "request" | "invocation",
  service: ResolvedService,
  requestId: string,
  startedAt: number,
  { response, node, attempts, cause }: Dispatched,
): Promise<void> {
  const notable = node === undefined || attempts !== 1 || response.status >= 500;
  let outcome = "answered";
  if (node === undefined && response.headers.get("content-type")?.includes("problem+json")) {
    // The gateway's own problem document: small, and read from a copy the client never sees.
    const body = (await response.clone().json()) as { type?: string };
    outcome = body.type?.replace("urn:roundhouse:problem:", "") ?? "problem";
  }
  runtimeFor(service).log.request(notable, () => ({
    kind,
    requestId,
    service: service.name,
    node: node ?? null,
    attempts,
    status: response.status,
    ms: Date.now() - startedAt,
    outcome,
    ...(cause === undefined ? {} : { cause }),
  }));
}
