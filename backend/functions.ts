import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** One invocation as a node's function sees it. */
export interface InvokeRequest {
  /** Invocation id, unique on its stream. */
  readonly id: number;
  /** Request body as sent by the gateway. */
  readonly body: Uint8Array;
  /** Media type the gateway sent with the body; "" when unknown. */
  readonly contentType: string;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON; throws on invalid JSON. */
  json(): unknown;
}

/** A full answer; fields left out get defaults (status 200, content-type from the body). */
export interface FunctionResponse {
  /** HTTP-style status, 200..599. */
  status: number;
  /** Media type of the body. */
  contentType?: string;
  /** string (text), Uint8Array (bytes), or anything else (JSON). */
  body?: unknown;
}

/**
 * What a functions module exports by default. `invoke` returns a string, a Uint8Array, a
 * FunctionResponse, or any other JSON-able value; throwing makes the gateway answer 502.
 */
export interface FunctionModule {
  invoke(request: InvokeRequest): unknown;
}

/** A function's answer, normalised for a result frame. */
export interface NormalisedResult {
  status: number;
  contentType: string;
  body: Uint8Array;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const RESPONSE_KEYS = new Set(["status", "contentType", "body"]);

/** Echoes the request body back with its content-type. */
/**
 * The reference node's default functions: echo, except that a body starting with `fail:` throws
 * with the rest as its message, `status:<code>` answers that status with an empty body, and
 * `sleep:<ms>` answers after that long — so tests and benchmarks
 * can script a node's function behaviour from the request alone.
 */
export const scripted: FunctionModule = {
  async invoke(request: InvokeRequest): Promise<FunctionResponse> {
    const text = request.body.byteLength <= 64 ? new TextDecoder().decode(request.body) : "";
    if (text.startsWith("fail:")) throw new Error(text.slice(5));
    const status = /^status:(\d{3})$/.exec(text);
    if (status) return { status: Number(status[1]), contentType: "text/plain", body: "" };
    const sleep = /^sleep:(\d{1,6})/.exec(text);
    if (sleep) await new Promise((resolve) => setTimeout(resolve, Number(sleep[1])));
    return { status: 200, contentType: request.contentType, body: request.body };
  },
};

export const echo: FunctionModule = {
  invoke: (request: InvokeRequest): FunctionResponse => ({
    status: 200,
    contentType: request.contentType,
    body: request.body,
  }),
};

/** Builds the request object handed to a function. */
export function invokeRequest(id: number, body: Uint8Array, contentType: string): InvokeRequest {
  return {
    id,
    body,
    contentType,
    text: () => utf8Decoder.decode(body),
    json: () => JSON.parse(utf8Decoder.decode(body)) as unknown,
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

/**
 * Loads a functions module by path (relative to the working directory) and checks that its
 * default export has an invoke function.
 */
export async function loadFunctions(path: string): Promise<FunctionModule> {
  const url = pathToFileURL(isAbsolute(path) ? path : resolve(path)).href;
  const loaded = (await import(url)) as { default?: unknown };
  const candidate = loaded.default;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof (candidate as { invoke?: unknown }).invoke !== "function"
  ) {
    throw new Error(`${path} must export default { invoke(request) { ... } }`);
  }
  return candidate as FunctionModule;
}

/** An object is a response only if it has a numeric status and no keys beyond the three. */
function isFunctionResponse(value: unknown): value is FunctionResponse {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return false;
  if (typeof (value as { status?: unknown }).status !== "number") return false;
  return Object.keys(value).every((key) => RESPONSE_KEYS.has(key));
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
