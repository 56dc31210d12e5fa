// Control endpoints for fake peers, under /peers on the fleet's control server.
import type { IncomingMessage } from "node:http";
import { parseChanges } from "../src/sync/wire.ts";
import type { FakePeerSet } from "./fake-peer-set.ts";
import type { FakePeerMode } from "./fake-peer-types.ts";
import { HttpError, readJson } from "./http-json.ts";

/** An answer: status plus JSON body (none for 204). */
interface Reply {
  status: number;
  body?: unknown;
}

const MAX_PEERS_PER_CALL = 500;

/**
 * `POST /peers {count?, name?, mode?, failStatus?, secret?, group?}` starts peers and lists them;
 * `GET /peers/stats?group=` the in-flight peak of the set or of one group; `POST /peers/reset-stats`;
 * `GET /peers/{name}` one peer's counts and received changes; `POST /peers/{name}/behaviour`;
 * `POST /peers/{name}/seed {origin, changes}` puts changes into its table;
 * `GET /peers/{name}/relay?waitMs=` the next held request (204: none); `POST /peers/{name}/relay/{id}`
 * answers it; `DELETE /peers/{name}`. Undefined for a path that is not under /peers.
 */
export async function peerControl(
  peers: FakePeerSet,
  req: IncomingMessage,
): Promise<Reply | undefined> {
  const url = new URL(req.url ?? "/", "http://control.invalid");
  const raw = url.pathname.split("/").filter(Boolean);
  if (raw[0] !== "peers") return undefined;
  let parts: string[];
  try {
    parts = raw.map(decodeURIComponent);
  } catch {
    throw new HttpError(400, "path is not valid URL encoding");
  }
  // A FakePeerError is an HttpError, so the control server answers it with its own status.
  return await route(peers, req, url, parts.slice(1));
}

async function route(
  peers: FakePeerSet,
  req: IncomingMessage,
  url: URL,
  parts: string[],
): Promise<Reply> {
  const method = req.method ?? "GET";
  const [name, action, id] = parts;
  if (name === undefined && method === "POST") return { status: 201, body: await add(peers, req) };
  if (name === "stats" && method === "GET") {
    return { status: 200, body: peers.countsOf(url.searchParams.get("group") ?? undefined) };
  }
  if (name === "reset-stats" && method === "POST") {
    peers.resetStats();
    return { status: 204 };
  }
  if (name === undefined) throw new HttpError(405, `${method} not allowed on /peers`);
  const peer = peers.get(name);
  if (action === undefined && method === "GET") return { status: 200, body: peer.stats() };
  if (action === undefined && method === "DELETE") {
    await peers.remove(name);
    return { status: 204 };
  }
  if (action === "behaviour" && method === "POST") {
    const body = object(await readJson(req));
    const patch: { mode?: FakePeerMode; failStatus?: number; delayMs?: number } = {};
    if (body.mode !== undefined) patch.mode = body.mode as FakePeerMode;
    if (body.failStatus !== undefined) patch.failStatus = body.failStatus as number;
    if (body.delayMs !== undefined) patch.delayMs = body.delayMs as number;
    return { status: 200, body: await peer.setBehaviour(patch) };
  }
  if (action === "seed" && method === "POST") {
    const parsed = parseChanges(await readJson(req));
    if (!parsed.ok) throw new HttpError(400, JSON.stringify(parsed.issues));
    return { status: 200, body: { applied: peer.seed(parsed.value.changes) } };
  }
  if (action === "relay" && id === undefined && method === "GET") {
    const waitMs = Math.min(5_000, Math.max(0, Number(url.searchParams.get("waitMs") ?? 1_000)));
    const next = await peer.nextRelayed(waitMs);
    return next ? { status: 200, body: next } : { status: 204 };
  }
  if (action === "relay" && id !== undefined && method === "POST") {
    const body = object(await readJson(req));
    const answered = peer.answerRelayed(Number(id), {
      status: Number(body.status),
      headers: (body.headers ?? {}) as Record<string, string>,
      body: typeof body.body === "string" ? body.body : "",
    });
    return answered ? { status: 204 } : { status: 404, body: { error: "not waiting" } };
  }
  throw new HttpError(404, `no route for ${method} ${url.pathname}`);
}

async function add(peers: FakePeerSet, req: IncomingMessage) {
  const body = object((await readJson(req)) ?? {});
  const count = body.count === undefined ? 1 : Number(body.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_PEERS_PER_CALL) {
    throw new HttpError(400, `count must be 1..${MAX_PEERS_PER_CALL}`);
  }
  if (body.name !== undefined && count !== 1) throw new HttpError(400, "name needs count 1");
  const options = {
    ...(typeof body.name === "string" ? { name: body.name } : {}),
    ...(typeof body.mode === "string" ? { mode: body.mode as FakePeerMode } : {}),
    ...(typeof body.failStatus === "number" ? { failStatus: body.failStatus } : {}),
    ...(typeof body.delayMs === "number" ? { delayMs: body.delayMs } : {}),
    ...(typeof body.secret === "string" ? { secret: body.secret } : {}),
    ...(typeof body.group === "string" ? { group: body.group } : {}),
  };
  const started = await Promise.all(Array.from({ length: count }, () => peers.add(options)));
  return started.map((p) => ({ name: p.name, url: p.url }));
}

function object(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  return value as Record<string, unknown>;
}
