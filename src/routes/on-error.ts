import type { Context } from "hono";
import { errorResponse } from "../http/errors.ts";
import { logOf } from "../logging/log-of.ts";
import type { GatewayEnv } from "./context.ts";

/** The one error handler of the app and its sub-apps: problem+json, unhandled errors logged. */
export function onError(error: unknown, c: Context<GatewayEnv>): Response {
  return errorResponse(error, (unhandled) =>
    logOf(c.env).fault("error", {
      event: "unhandled",
      reason:
        unhandled instanceof Error ? (unhandled.stack ?? unhandled.message) : String(unhandled),
    }),
  );
}
