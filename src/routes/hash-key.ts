import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { ResolvedService } from "../config/load.ts";
import type { GatewayEnv } from "./context.ts";

/**
 * The key a `consistent_hash` service hashes the request by, as its `hash.key` names it; undefined
 * when the request lacks it (or the service does not hash), which sends it to a random point.
 * `path` is the path below the service prefix; an invocation has none.
 */
export function hashKeyOf(
  c: Context<GatewayEnv>,
  service: ResolvedService,
  path: string | undefined,
): string | undefined {
  if (service.policy !== "consistent_hash") return undefined;
  const key = service.hash.key;
  switch (key.from) {
    case "header":
      return c.req.header(key.name);
    case "cookie":
      return getCookie(c, key.name);
    case "path":
      return path;
    case "client-ip":
      return c.req.header("cf-connecting-ip");
  }
}
