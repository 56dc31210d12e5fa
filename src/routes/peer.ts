import { Hono } from "hono";
import type { SyncConfig } from "../config/load.ts";
import { invalidRequest, problem } from "../http/problem.ts";
import { DEFAULT_BUCKET_COUNT } from "../sync/digest.ts";
import { parseBuckets } from "../sync/fanout.ts";
import { MAX_BATCH } from "../sync/peer-queue.ts";
import { importSigningKey, type VerifyResult, verify } from "../sync/signature.ts";
import { MAX_BODY_BYTES, parseChanges, parseSince, routesSinceBody } from "../sync/wire.ts";
import type { GatewayEnv } from "./context.ts";
import { ensureSyncConfigured, routeSyncStub } from "./sync-runtime.ts";

type PeerEnv = GatewayEnv & { Variables: { syncOn: SyncConfig } };

const keys = new Map<string, Promise<CryptoKey>>();

function signingKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = importSigningKey(secret);
    keys.set(secret, key);
  }
  return key;
}

const REASONS: Record<Exclude<VerifyResult, { ok: true }>["reason"], string> = {
  missing: "missing signature headers",
  "bad-signature": "signature does not match the request",
  skewed: "timestamp outside the allowed skew",
  replayed: "request already seen",
  "guard-full": "too many requests to remember; try again later",
};

function refused(reason: keyof typeof REASONS): Response {
  if (reason === "guard-full") return problem(503, "busy", "Try again later", REASONS[reason]);
  return problem(401, "unauthorized", "Unauthorized", REASONS[reason]);
}

/**
 * Checks the HMAC signature over method, path and query, timestamp, nonce and body. The nonce is
 * then checked by the RouteSync object, the one replay guard all isolates share; were it evicted,
 * a replay inside the skew window would still change nothing, because applying is idempotent.
 */
async function authenticate(
  c: { env: Env; req: { url: string; method: string; raw: Request } },
  body: string,
): Promise<Response | { nonce: string; timestamp: number }> {
  const secret = c.env.PEER_SECRET;
  if (typeof secret !== "string" || secret.length === 0) {
    return problem(401, "unauthorized", "Unauthorized", "no PEER_SECRET is configured");
  }
  const url = new URL(c.req.url);
  const result = await verify(
    await signingKey(secret),
    { method: c.req.method, path: url.pathname + url.search, body },
    c.req.raw.headers,
    Date.now(),
  );
  if (!result.ok) return refused(result.reason);
  return { nonce: result.nonce, timestamp: result.timestamp };
}

/** The signed endpoints other gateways call: `/_gw/peer/changes`, `/digest`, `/routes`. */
export const peerRoutes = new Hono<PeerEnv>();

peerRoutes.use("*", async (c, next) => {
  const sync = c.get("sync");
  if (!sync) return problem(404, "not-found", "Not found", "peer sync is not configured");
  c.set("syncOn", sync);
  await ensureSyncConfigured(c.env, sync);
  await next();
});

peerRoutes.post("/changes", async (c) => {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) {
    return problem(
      413,
      "payload-too-large",
      "Payload too large",
      `at most ${MAX_BODY_BYTES} bytes`,
    );
  }
  const body = await c.req.text();
  if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) {
    return problem(
      413,
      "payload-too-large",
      "Payload too large",
      `at most ${MAX_BODY_BYTES} bytes`,
    );
  }
  const auth = await authenticate(c, body);
  if (auth instanceof Response) return auth;
  const parsed = parseChanges(body);
  if (!parsed.ok) return invalidRequest(parsed.issues);
  const sync = c.get("syncOn");
  const result = await routeSyncStub(c.env, sync).applyRemote(parsed.value.changes, auth);
  switch (result.status) {
    case "applied":
      return c.json({ origin: sync.gatewayId, applied: result.applied }, 200);
    case "clock-drift":
      return problem(409, "clock-drift", "Clock drift", result.detail);
    default:
      return refused(result.status);
  }
});

peerRoutes.get("/digest", async (c) => {
  const auth = await authenticate(c, "");
  if (auth instanceof Response) return auth;
  const stub = routeSyncStub(c.env, c.get("syncOn"));
  const seen = await stub.checkNonce(auth.nonce, auth.timestamp);
  if (seen !== "fresh") return refused(seen === "full" ? "guard-full" : "replayed");
  const { origin, buckets, top } = await stub.digest();
  return c.json({ origin, buckets: [...buckets], top }, 200);
});

peerRoutes.get("/routes", async (c) => {
  const auth = await authenticate(c, "");
  if (auth instanceof Response) return auth;
  const since = parseSince(c.req.query("since"));
  if (!since.ok) return invalidRequest(since.issues);
  const buckets = parseBuckets(c.req.query("buckets"), DEFAULT_BUCKET_COUNT);
  if (buckets === null) {
    return invalidRequest([
      { path: "buckets", message: `comma-separated bucket numbers below ${DEFAULT_BUCKET_COUNT}` },
    ]);
  }
  const sync = c.get("syncOn");
  const stub = routeSyncStub(c.env, sync);
  const seen = await stub.checkNonce(auth.nonce, auth.timestamp);
  if (seen !== "fresh") return refused(seen === "full" ? "guard-full" : "replayed");
  const page = await stub.routes(since.value, buckets, MAX_BATCH);
  return c.json(routesSinceBody(sync.gatewayId, page.changes, page.more), 200);
});
