import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { timingSafeEqual } from "hono/utils/buffer";
import { envString } from "../config/env-value.ts";
import { MIN_SECRET_BYTES } from "../config/secrets.ts";
import { problem } from "../http/problem.ts";

const unauthorized = (detail: string) => () =>
  problem({ status: 401, type: "unauthorized", title: "Unauthorized", detail });

/**
 * `Authorization: Bearer <token>` compared in constant time with the first of the named secrets
 * that is set. A malformed header is answered 401 like a wrong token (Hono's default is 400), so
 * a probe learns nothing about which part was wrong. With none of them set, every call is refused.
 */
function tokenAuth(...names: string[]) {
  return bearerAuth({
    verifyToken: async (token: string, c: Context) => {
      const expected = names.map((name) => envString(c.env, name)).find((v) => v !== undefined);
      return expected !== undefined && (await timingSafeEqual(expected, token));
    },
    noAuthenticationHeader: { message: unauthorized("missing Authorization: Bearer token") },
    invalidAuthenticationHeader: { message: unauthorized("malformed Authorization header") },
    invalidToken: { message: unauthorized("wrong token") },
  });
}

/** Admin calls: ADMIN_TOKEN. */
export const adminAuth = tokenAuth("ADMIN_TOKEN");

/** The metrics scrape: METRICS_TOKEN, so a scraper need not hold the admin token, else ADMIN_TOKEN. */
export const metricsAuth = tokenAuth("METRICS_TOKEN", "ADMIN_TOKEN");

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Whether a request to a public route carries the admin token, so the route may show its holder
 * more than it shows anyone. An ADMIN_TOKEN shorter than MIN_SECRET_BYTES never counts: it is
 * itself the bad configuration being reported, and a guessable token must unlock nothing.
 */
export async function holdsAdminToken(c: Context): Promise<boolean> {
  const expected = envString(c.env, "ADMIN_TOKEN");
  if (expected === undefined) return false;
  if (new TextEncoder().encode(expected).byteLength < MIN_SECRET_BYTES) return false;
  const token = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
  return token !== undefined && (await timingSafeEqual(expected, token));
}
