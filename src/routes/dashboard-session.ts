import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { timingSafeEqual } from "hono/utils/buffer";
import type { GatewayEnv } from "./context.ts";

const COOKIE = "roundhouse-session";
/** How long a dashboard session lasts after sign-in. */
export const SESSION_SECONDS = 12 * 3600;
const PATH = "/_gw/dashboard";

/**
 * The key sessions are signed with: derived from ADMIN_TOKEN, so that rotating the token ends
 * every session, and kept apart from the token itself. Undefined when no token is set, in which
 * case nobody can sign in.
 */
function sessionKey(c: Context<GatewayEnv>): string | undefined {
  const token = (c.env as unknown as Record<string, unknown>).ADMIN_TOKEN;
  return typeof token === "string" && token ? `dashboard-session\n${token}` : undefined;
}

/** Whether the token a sign-in form carried is the admin token (compared in constant time). */
export async function tokenMatches(c: Context<GatewayEnv>, token: string): Promise<boolean> {
  const expected = (c.env as unknown as Record<string, unknown>).ADMIN_TOKEN;
  return typeof expected === "string" && expected.length > 0 && timingSafeEqual(expected, token);
}

/**
 * Starts a session: an HttpOnly, SameSite=Strict cookie whose value (the time of sign-in) is
 * signed, Secure whenever the page is served over https. The token itself never leaves the form.
 */
export async function startSession(c: Context<GatewayEnv>): Promise<void> {
  const key = sessionKey(c);
  if (!key) return;
  await setSignedCookie(c, COOKIE, String(Date.now()), key, {
    httpOnly: true,
    secure: new URL(c.req.url).protocol === "https:",
    sameSite: "Strict",
    path: PATH,
    maxAge: SESSION_SECONDS,
  });
}

/** Whether the request carries a session signed with the current key and not yet expired. */
export async function hasSession(c: Context<GatewayEnv>): Promise<boolean> {
  const key = sessionKey(c);
  if (!key) return false;
  const value = await getSignedCookie(c, key, COOKIE);
  if (typeof value !== "string") return false;
  const age = Date.now() - Number(value);
  return Number.isFinite(age) && age >= 0 && age < SESSION_SECONDS * 1000;
}

export function endSession(c: Context<GatewayEnv>): void {
  deleteCookie(c, COOKIE, { path: PATH });
}
