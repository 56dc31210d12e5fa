import type { FunctionResponse } from "./types.ts";

/** A function's answer, normalised for a result frame. */
export interface NormalisedResult {
  status: number;
  contentType: string;
  body: Uint8Array;
}

/**
 * Thrown by a function to answer a chosen status as `application/problem+json` instead of
 * failing (which the gateway answers 502).
 */
export class InvocationError extends Error {
  override name = "InvocationError";
  /** Status of the result, 200..599. */
  readonly status: number;
  /** The problem's type URI. */
  readonly type: string;
  /** The problem's short title. */
  readonly title: string;

  constructor(status: number, detail: string, options: { type?: string; title?: string } = {}) {
    super(detail);
    this.status = status;
    this.type = options.type ?? "about:blank";
    this.title = options.title ?? "Function error";
  }
}

const utf8 = new TextEncoder();
const RESPONSE_KEYS = new Set(["status", "contentType", "body"]);

/** The media type of problem answers. */
export const PROBLEM_JSON = "application/problem+json";

/** A problem+json answer of the node itself (unknown function, too large, timed out). */
export function problem(status: number, type: string, title: string, detail: string) {
  return {
    status,
    contentType: PROBLEM_JSON,
    body: utf8.encode(JSON.stringify({ type, title, status, detail })),
  };
}

/** Turns whatever a function returned into status, content-type and bytes; throws if it cannot. */
export function normaliseResult(value: unknown): NormalisedResult {
  if (isFunctionResponse(value)) {
    const { status } = value;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new Error(`function returned status ${status}, outside 200..599`);
    }
    const contentType = value.contentType ?? defaultContentType(value.body);
    return { status, contentType, body: bodyBytes(value.body) };
  }
  return { status: 200, contentType: defaultContentType(value), body: bodyBytes(value) };
}

/** An InvocationError's answer, or undefined for any other failure (an error frame). */
export function invocationErrorResult(error: unknown): NormalisedResult | undefined {
  if (!(error instanceof InvocationError)) return undefined;
  const { status } = error;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  return problem(status, error.type, error.title, error.message);
}

/** An object is a response only if it has a numeric status and no keys beyond the three. */
function isFunctionResponse(value: unknown): value is FunctionResponse {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return false;
  if (typeof (value as { status?: unknown }).status !== "number") return false;
  for (const key in value) if (!RESPONSE_KEYS.has(key)) return false;
  return true;
}

function defaultContentType(body: unknown): string {
  if (body === undefined) return "";
  if (typeof body === "string") return "text/plain; charset=utf-8";
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return "application/octet-stream";
  return "application/json";
}

function bodyBytes(body: unknown): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  if (typeof body === "string") return utf8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  const json = JSON.stringify(body);
  if (json === undefined) throw new Error(`function returned a ${typeof body}, not JSON-able`);
  return utf8.encode(json);
}
