import type { Context } from "hono";
import type { ResolvedService } from "../config/load.ts";
import { logOf } from "../logging/log-of.ts";
import type { GatewayEnv } from "./context.ts";

/**
 * Writes the request's line (when the sample draws it) once its answer's headers are ready: which
 * node answered after how many attempts, or which problem the gateway answered with instead.
 */
export async function logRequest(
  c: Context<GatewayEnv>,
  kind: "request" | "invocation",
  service: ResolvedService,
  requestId: string,
  startedAt: number,
  response: Response,
): Promise<void> {
  const node = response.headers.get("x-roundhouse-node");
  let outcome = "answered";
  if (node === null && response.headers.get("content-type")?.includes("problem+json")) {
    // The gateway's own problem document: small, and read from a copy the client never sees.
    const body = (await response.clone().json()) as { type?: string };
    outcome = body.type?.replace("urn:roundhouse:problem:", "") ?? "problem";
  }
  logOf(c.env).request({
    kind,
    requestId,
    service: service.name,
    node,
    attempts: Number(response.headers.get("x-roundhouse-attempts") ?? 0),
    status: response.status,
    ms: Date.now() - startedAt,
    outcome,
  });
}
