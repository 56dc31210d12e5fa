import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { SyncConfig } from "../config/load.ts";
import { fail, invalidRequest, problem } from "../http/problem.ts";
import { DEFAULT_BUCKET_COUNT } from "../sync/digest.ts";
import { parseBuckets } from "../sync/fanout.ts";
import { MAX_BATCH } from "../sync/peer-queue.ts";
import {
  ANSWER_SIGNATURE_HEADER,
  importSigningKey,
  signAnswer,
  type VerifyResult,
  verify,
} from "../sync/signature.ts";
import { MAX_BODY_BYTES, parseChanges, parseSince, routesSinceBody } from "../sync/wire.ts";
import type { GatewayEnv } from "./context.ts";
import { ensureSyncConfigured, routeSyncStub } from "./sync-runtime.ts";

/** A request that passed the peer signature check. */
interface PeerRequest {
  readonly nonce: string;
  readonly timestamp: number;
  /** The raw body the signature covered ("" for a GET). */
  readonly body: string;
}

type PeerEnv = GatewayEnv & { Variables: { syncOn: SyncConfig; peer: PeerRequest } };

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

function refused(reason: keyof typeof REASONS): never {
  if (reason === "guard-full")
    fail(problem({ status: 503, type: "busy", title: "Try again later", detail: REASONS[reason] }));
  fail(
    problem({ status: 401, type: "unauthorized", title: "Unauthorized", detail: REASONS[reason] }),
  );
}

/**
 * The signed endpoints other gateways call: `/_gw/peer/changes`, `/digest`, `/routes`. Every
 * request must carry an HMAC over method, path and query, this gateway's id, timestamp, nonce and
 * body; every 2xx answer carries one over the request's nonce, its status, this gateway's id and
 * its body, so the asking gateway can tell the answer is ours and for its request.
 */
export const peerRoutes = new Hono<PeerEnv>();

peerRoutes.use("*", async (c, next) => {
  const sync = c.get("sync");
  if (!sync)
    return problem({
      status: 404,
      type: "not-found",
      title: "Not found",
      detail: "peer sync is not configured",
    });
  c.set("syncOn", sync);
  await ensureSyncConfigured(c.env, sync);
  await next();
});

// Bytes are counted while the body streams and reading stops at the limit, before the signature
// check reads it: a huge unsigned upload is never held in memory.
peerRoutes.use(
  "*",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () =>
      problem({
        status: 413,
        type: "payload-too-large",
        title: "Payload too large",
        detail: `at most ${MAX_BODY_BYTES} bytes`,
      }),
  }),
);

/**
 * Checks the signature (bound to this gateway's id, so a request captured on its way to another
 * peer sharing the secret is refused here) and sets the verified request on the context. The
 * nonce is then checked by the RouteSync object, the one replay guard all isolates share; were
 * it evicted, a replay inside the skew window would still change nothing, because applying is
 * idempotent, and one outside it fails the timestamp check.
 */
const peerAuth = createMiddleware<PeerEnv>(async (c, next) => {
  const secret = c.env.PEER_SECRET;
  if (typeof secret !== "string" || secret.length === 0) {
    fail(
      problem({
        status: 401,
        type: "unauthorized",
        title: "Unauthorized",
        detail: "no PEER_SECRET is configured",
      }),
    );
  }
  const body = c.req.method === "POST" ? await c.req.text() : "";
  const url = new URL(c.req.url);
  const target = c.get("syncOn").gatewayId;
  const parts = { method: c.req.method, path: url.pathname + url.search, body, target };
  const result = await verify(await signingKey(secret), parts, c.req.raw.headers, Date.now());
  if (!result.ok) refused(result.reason);
  c.set("peer", { nonce: result.nonce, timestamp: result.timestamp, body });
  await next();
});

peerRoutes.use("*", peerAuth);

/** A 2xx answer signed for the request it answers. */
async function signedJson(
  env: Env,
  sync: SyncConfig,
  peer: PeerRequest,
  value: unknown,
): Promise<Response> {
  const text = JSON.stringify(value);
  const status = 200;
  const key = await signingKey(env.PEER_SECRET as string);
  const parts = { requestNonce: peer.nonce, status, responder: sync.gatewayId, body: text };
  return new Response(text, {
    status,
    headers: {
      "content-type": "application/json",
      [ANSWER_SIGNATURE_HEADER]: await signAnswer(key, parts),
    },
  });
}

/** The shared replay guard; a request seen before is refused. */
async function freshOnly(env: Env, sync: SyncConfig, peer: PeerRequest): Promise<void> {
  const seen = await routeSyncStub(env, sync).checkNonce(peer.nonce, peer.timestamp);
  if (seen !== "fresh") refused(seen === "full" ? "guard-full" : "replayed");
}

peerRoutes.post("/changes", async (c) => {
  const peer = c.get("peer");
  const parsed = parseChanges(peer.body);
  if (!parsed.ok) return invalidRequest(parsed.issues);
  const sync = c.get("syncOn");
  const { nonce, timestamp } = peer;
  const result = await routeSyncStub(c.env, sync).applyRemote(parsed.value.changes, {
    nonce,
    timestamp,
  });
  switch (result.status) {
    case "applied":
      return signedJson(c.env, sync, peer, { origin: sync.gatewayId, applied: result.applied });
    case "clock-drift":
      return problem({
        status: 409,
        type: "clock-drift",
        title: "Clock drift",
        detail: result.detail,
      });
    default:
      refused(result.status);
  }
});

peerRoutes.get("/digest", async (c) => {
  const sync = c.get("syncOn");
  const peer = c.get("peer");
  await freshOnly(c.env, sync, peer);
  const { origin, buckets, top } = await routeSyncStub(c.env, sync).digest();
  return signedJson(c.env, sync, peer, { origin, buckets: [...buckets], top });
});

peerRoutes.get("/routes", async (c) => {
  const since = parseSince(c.req.query("since"));
  if (!since.ok) return invalidRequest(since.issues);
  const buckets = parseBuckets(c.req.query("buckets"), DEFAULT_BUCKET_COUNT);
  if (buckets === null) {
    return invalidRequest([
      { path: "buckets", message: `comma-separated bucket numbers below ${DEFAULT_BUCKET_COUNT}` },
    ]);
  }
  const sync = c.get("syncOn");
  const peer = c.get("peer");
  await freshOnly(c.env, sync, peer);
  const page = await routeSyncStub(c.env, sync).routes(since.value, buckets, MAX_BATCH);
  return signedJson(c.env, sync, peer, routesSinceBody(sync.gatewayId, page.changes, page.more));
});
