import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { FunctionRequest, FunctionResponse } from "../nodes/typescript/src/index.ts";

export type { FunctionResponse } from "../nodes/typescript/src/index.ts";
// Results are normalised by the node library, the same rules for the reference node and users.
export { type NormalisedResult, normaliseResult } from "../nodes/typescript/src/index.ts";

/** One invocation as a node's function sees it: the library's request. */
export type InvokeRequest = FunctionRequest;

/**
 * What a functions module exports by default. `invoke` returns a string, a Uint8Array, a
 * FunctionResponse, or any other JSON-able value; throwing makes the gateway answer 502.
 */
export interface FunctionModule {
  invoke(request: InvokeRequest): unknown;
}

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

/** Echoes the request body back with its content-type. */
export const echo: FunctionModule = {
  invoke: (request: InvokeRequest): FunctionResponse => ({
    status: 200,
    contentType: request.contentType,
    body: request.body,
  }),
};

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
