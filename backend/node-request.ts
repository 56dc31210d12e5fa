import type { IncomingMessage } from "node:http";
import { MAX_DELAY_MS } from "./behaviour.ts";
import type { FunctionModule } from "./functions.ts";
import type { BackendNode } from "./node-types.ts";

// How a reference node reads a request: its target, its test headers, and the counting helpers.

/** What the ok answer of a route is computed from. */
export interface RequestInfo {
  node: string;
  method: string;
  path: string;
  query: string;
  requestId: string | null;
  bodyBytes: number;
  /** Request headers as received, so a test can check what the gateway forwarded. */
  headers: Record<string, string>;
}

/** The extra response headers a request asked for: a JSON object of string values, else none. */
export function extraHeaders(raw: string | string[] | undefined): Record<string, string> {
  if (typeof raw !== "string") return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter(
        (entry): entry is [string, string] => typeof entry[1] === "string",
      ),
    );
  } catch {
    return {};
  }
}

/** A node as the control API lists it. */
export function describeNode(node: BackendNode) {
  return {
    id: node.id,
    url: node.url,
    host: node.host,
    port: node.port,
    dc: node.dc ?? null,
    rack: node.rack ?? null,
  };
}

/** Splits the raw request target by hand, so path and query are exactly what was sent. */
export function splitTarget(url: string | undefined): { path: string; query: string } {
  const target = url ?? "/";
  const mark = target.indexOf("?");
  return {
    path: mark === -1 ? target : target.slice(0, mark),
    query: mark === -1 ? "" : target.slice(mark + 1),
  };
}

export function requestInfo(node: string, req: IncomingMessage, bodyBytes: number): RequestInfo {
  const header = req.headers["x-request-id"];
  return {
    node,
    method: req.method ?? "",
    ...splitTarget(req.url),
    requestId: typeof header === "string" ? header : null,
    bodyBytes,
    headers: Object.fromEntries(
      Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
    ),
  };
}

/** The delay a request asked for, or undefined when it asked for none or for nonsense. */
export function delayOverride(header: string | string[] | undefined): number | undefined {
  if (typeof header !== "string" || header.trim() === "") return undefined;
  const value = Number(header);
  return value >= 0 ? Math.min(value, MAX_DELAY_MS) : undefined;
}

export function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Wraps a functions module so every execution is counted by its body. */
export function countingExecutions(
  functions: FunctionModule,
  count: (body: string) => void,
): FunctionModule {
  return {
    invoke(request) {
      count(new TextDecoder().decode(request.body));
      return functions.invoke(request);
    },
  };
}
