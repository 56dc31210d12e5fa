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
  | "forbidden"
  | "conflict"
  | "payload-too-large"
  | "unsupported-media-type"
  | "clock-drift"
  | "busy"
  | "sync-unavailable"
  | "egress-unavailable"
  | "invoke-unavailable"
  | "internal";

/** What a problem document says, and how it is sent. */
export interface ProblemOptions {
  readonly status: number;
  readonly type: ProblemType;
  /** Short and the same for every occurrence of the type. */
  readonly title: string;
  /** This occurrence: what was wrong and, where it helps, what to do. */
  readonly detail?: string | undefined;
  /** Members beyond the standard ones, such as `tried` or `binding`. */
  readonly extensions?: ProblemExtensions;
  readonly headers?: HeadersInit;
}

/** An RFC 9457 `application/problem+json` response. */
export function problem(options: ProblemOptions): Response {
  const { status, type, title, detail, extensions = {}, headers = {} } = options;
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
  const detail = first && `${first.path}: ${first.message}`;
  return problem({
    status: 400,
    type: "bad-request",
    title: "Invalid request",
    detail,
    extensions: { issues },
  });
}

/**
 * Ends the request with a problem from wherever it is found: thrown as Hono's HTTPException
 * carrying the response, and answered as it is by the one error handler.
 */
export function fail(response: Response): never {
  throw new HTTPException(response.status as ContentfulStatusCode, { res: response });
}
