import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { timingSafeEqual } from "hono/utils/buffer";
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
      const env = c.env as Record<string, unknown>;
      const expected = names.map((name) => env[name]).find((v) => typeof v === "string" && v);
      return typeof expected === "string" && (await timingSafeEqual(expected, token));
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
