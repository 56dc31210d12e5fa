import type { IncomingMessage, ServerResponse } from "node:http";
import { brotliCompressSync, gzipSync } from "node:zlib";

/**
 * Request headers a test sends to a reference node to shape how its answer goes out on the wire,
 * so the gateway's handling of each shape can be checked from the request alone.
 */
export const SHAPE_HEADERS = {
  /** Answer chunked (no content-length), in two writes. */
  chunked: "x-backend-chunked",
  /** Send the headers (with content-length), then the body this many ms later. */
  bodyDelayMs: "x-backend-body-delay-ms",
  /**
   * Compress the body with the coding the request's Accept-Encoding prefers (br, then gzip; a
   * zero weight refuses, `*` stands for any coding not named), as NGINX's gzip and brotli modules
   * do; the ETag names the representation sent.
   */
  compress: "x-backend-compress",
  /** Answer 413 at once to a body over this many bytes, and drop the connection, unread. */
  maxBodyBytes: "x-backend-max-body-bytes",
} as const;

/** Writes an answer's head and body in the shape the request asked for. */
export function writeShaped(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  text: string,
): void {
  if (req.headers[SHAPE_HEADERS.chunked] !== undefined) {
    res.writeHead(status, headers);
    // Two writes before end and no length: a chunked body, as a streaming backend sends.
    const half = Math.floor(text.length / 2);
    res.write(text.slice(0, half));
    res.end(text.slice(half));
    return;
  }
  let body: Buffer = Buffer.from(text);
  if (req.headers[SHAPE_HEADERS.compress] !== undefined) {
    const coding = negotiate(String(req.headers["accept-encoding"] ?? ""));
    if (coding !== undefined) body = coding === "br" ? brotliCompressSync(body) : gzipSync(body);
    headers = {
      ...headers,
      ...(coding === undefined ? {} : { "content-encoding": coding }),
      vary: "accept-encoding",
      etag: `"shaped-${coding ?? "identity"}"`,
    };
  }
  res.writeHead(status, { ...headers, "content-length": String(body.length) });
  const delay = Number(req.headers[SHAPE_HEADERS.bodyDelayMs] ?? 0);
  if (!(delay > 0)) {
    res.end(body);
    return;
  }
  res.flushHeaders();
  const timer = setTimeout(() => res.end(body), Math.min(delay, 60_000));
  res.once("close", () => clearTimeout(timer));
}

/** The coding an Accept-Encoding value takes of br and gzip, preferring br; none for identity. */
function negotiate(accepts: string): "br" | "gzip" | undefined {
  const weights = new Map<string, number>();
  for (const element of accepts.split(",")) {
    const [name = "", ...params] = element.split(";").map((part) => part.trim().toLowerCase());
    if (name === "") continue;
    const q = params.find((p) => p.startsWith("q="));
    weights.set(name, q === undefined ? 1 : Number(q.slice(2)));
  }
  const weightOf = (coding: string) => weights.get(coding) ?? weights.get("*") ?? 0;
  const br = weightOf("br");
  const gzip = weightOf("gzip");
  if (br > 0 && br >= gzip) return "br";
  return gzip > 0 ? "gzip" : undefined;
}

/**
 * Refuses an upload over the request's max-body header the way a node with a body limit does
 * (NGINX's client_max_body_size): a 413 as soon as the limit is known to be passed, then the
 * connection is dropped with the rest of the body unread. True when it did so.
 */
export function refuseOversizedUpload(req: IncomingMessage, res: ServerResponse): boolean {
  const limit = Number(req.headers[SHAPE_HEADERS.maxBodyBytes] ?? Number.NaN);
  if (!(limit >= 0)) return false;
  let seen = 0;
  const refuse = () => {
    if (res.headersSent) return;
    res.writeHead(413, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: "body too large", limit }), () => req.socket.destroy());
  };
  if (Number(req.headers["content-length"] ?? 0) > limit) {
    refuse();
    return true;
  }
  req.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) refuse();
  });
  return false;
}
