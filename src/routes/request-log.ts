import type { ResolvedService } from "../config/load.ts";
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
  response: Response,
): Promise<void> {
  const headers = response.headers;
  const node = headers.get("x-roundhouse-node");
  const attempts = headers.get("x-roundhouse-attempts");
  const notable = node === null || attempts !== "1" || response.status >= 500;
  let outcome = "answered";
  if (node === null && headers.get("content-type")?.includes("problem+json")) {
    // The gateway's own problem document: small, and read from a copy the client never sees.
    const body = (await response.clone().json()) as { type?: string };
    outcome = body.type?.replace("urn:roundhouse:problem:", "") ?? "problem";
  }
  runtimeFor(service).log.request(notable, () => ({
    kind,
    requestId,
    service: service.name,
    node,
    attempts: Number(attempts ?? 0),
    status: response.status,
    ms: Date.now() - startedAt,
    outcome,
  }));
}
