import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { timingSafeEqual } from "hono/utils/buffer";
import { problem } from "../http/problem.ts";

const unauthorized = (detail: string) => () =>
  problem({ status: 401, type: "unauthorized", title: "Unauthorized", detail });

/**
 * `Authorization: Bearer <ADMIN_TOKEN>` on admin calls, compared in constant time. A malformed
 * header is answered 401 like a wrong token (Hono's default is 400), so a probe learns nothing
 * about which part was wrong. With no ADMIN_TOKEN set, every admin call is refused.
 */
export const adminAuth = bearerAuth({
  verifyToken: async (token: string, c: Context) => {
    const expected = (c.env as Env).ADMIN_TOKEN;
    return (
      typeof expected === "string" &&
      expected.length > 0 &&
      (await timingSafeEqual(expected, token))
    );
  },
  noAuthenticationHeader: { message: unauthorized("missing Authorization: Bearer token") },
  invalidAuthenticationHeader: { message: unauthorized("malformed Authorization header") },
  invalidToken: { message: unauthorized("wrong token") },
});
