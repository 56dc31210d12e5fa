import { HTTPException } from "hono/http-exception";
import { problem } from "./problem.ts";

/**
 * The response for an error a handler threw. Hono's own exceptions (a malformed JSON body, a
 * failed bearer check) keep their status but speak problem+json like every other error; anything
 * else goes to `unhandled` (the log) and is answered 500 without leaking its message.
 */
export function errorResponse(error: unknown, unhandled: (error: unknown) => void): Response {
  if (error instanceof HTTPException) {
    const response = error.getResponse();
    if (response.headers.get("content-type") === "application/problem+json") return response;
    const type =
      error.status === 401
        ? "unauthorized"
        : error.status === 415
          ? "unsupported-media-type"
          : error.status < 500
            ? "bad-request"
            : "internal";
    return problem({
      status: error.status,
      type,
      title: error.status < 500 ? "Bad request" : "Internal error",
      detail: error.message || undefined,
    });
  }
  unhandled(error);
  return problem({
    status: 500,
    type: "internal",
    title: "Internal error",
    detail: "the gateway failed to handle this request",
  });
}
