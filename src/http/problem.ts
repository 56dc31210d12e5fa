import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Fields of an RFC 9457 problem document beyond the standard ones. */
export type ProblemExtensions = Record<string, unknown>;

/** The problem types Roundhouse answers with; each is documented in docs/problems.md. */
export type ProblemType =
  | "bad-config"
  | "unknown-service"
  | "no-node-available"
  | "upstream-timeout"
  | "upstream-error"
  | "not-found"
  | "bad-request"
  | "unauthorized"
  | "conflict"
  | "payload-too-large"
  | "unsupported-media-type"
  | "clock-drift"
  | "busy"
  | "sync-unavailable"
  | "egress-unavailable"
  | "invoke-unavailable"
  | "internal";

/** An RFC 9457 `application/problem+json` response. */
export function problem(
  status: number,
  type: ProblemType,
  title: string,
  detail?: string,
  extensions: ProblemExtensions = {},
  headers: HeadersInit = {},
): Response {
  const body = { type: `urn:roundhouse:problem:${type}`, title, status, detail, ...extensions };
  const out = new Headers(headers);
  out.set("content-type", "application/problem+json");
  out.set("cache-control", "no-store");
  return new Response(JSON.stringify(body), { status, headers: out });
}

/** One invalid field of a request, located by its path. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** 400 problem+json naming the first invalid field, with every issue listed. */
export function invalidRequest(issues: readonly FieldIssue[]): Response {
  const first = issues[0];
  return problem(
    400,
    "bad-request",
    "Invalid request",
    first && `${first.path}: ${first.message}`,
    {
      issues,
    },
  );
}

/**
 * Ends the request with a problem from wherever it is found: thrown as Hono's HTTPException
 * carrying the response, and answered as it is by the one error handler.
 */
export function fail(response: Response): never {
  throw new HTTPException(response.status as ContentfulStatusCode, { res: response });
}
