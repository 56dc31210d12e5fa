import type { IncomingMessage, ServerResponse } from "node:http";

/** An error that maps to an HTTP status with a JSON `{ error }` body. */
export class HttpError extends Error {
  override name = "HttpError";
  /** HTTP status to answer. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Largest request body the control server reads; its bodies are tiny. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON request body; undefined when empty, HttpError 400/413 when malformed/too big. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

/** Writes `body` as JSON, or nothing for 204. */
export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
