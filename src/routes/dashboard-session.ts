import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { timingSafeEqual } from "hono/utils/buffer";
import { envString } from "../config/env-value.ts";
import { dashboardSessionsOf } from "../durable/stubs.ts";
import { logOf } from "../logging/log-of.ts";
import type { GatewayEnv } from "./context.ts";

const COOKIE = "roundhouse-session";
/** How long a dashboard session lasts after sign-in. */
const SESSION_SECONDS = 12 * 3600;
const PATH = "/_gw/dashboard";
/**
 * How long an isolate trusts the session generation it last read. A sign-out in another isolate
 * reaches this one within this long; meanwhile a dashboard request costs no call to the object.
 */
const GENERATION_TTL_MS = 5_000;

// The generation as this isolate last read it, by namespace (tests bind several gateways).
const generations = new WeakMap<DurableObjectNamespace, { value: number; readAt: number }>();

/**
 * The current session generation, read from the deployment's one object at most once per
 * GENERATION_TTL_MS; `fresh` reads it now. Throws when it cannot be read.
 */
async function generation(env: Env, fresh = false): Promise<number> {
  const now = Date.now();
  const cached = generations.get(env.ROUTE_SYNC);
  if (!fresh && cached && now - cached.readAt < GENERATION_TTL_MS) return cached.value;
  const value = await dashboardSessionsOf(env).dashboardGeneration();
  generations.set(env.ROUTE_SYNC, { value, readAt: now });
  return value;
}

/**
 * The key sessions are signed with: derived from ADMIN_TOKEN, so that rotating the token ends
 * every session, and kept apart from the token itself. Undefined when no token is set, in which
 * case nobody can sign in.
 */
function sessionKey(c: Context<GatewayEnv>): string | undefined {
  const token = envString(c.env, "ADMIN_TOKEN");
  return token === undefined ? undefined : `dashboard-session\n${token}`;
}

/** Whether the token a sign-in form carried is the admin token (compared in constant time). */
export async function tokenMatches(c: Context<GatewayEnv>, token: string): Promise<boolean> {
  const expected = envString(c.env, "ADMIN_TOKEN");
  return expected !== undefined && timingSafeEqual(expected, token);
}

/**
 * Starts a session: an HttpOnly, SameSite=Strict cookie whose value (the time of sign-in and the
 * session generation) is signed, Secure whenever the page is served over https. The token itself
 * never leaves the form. The generation is read afresh, so that a sign-out another isolate has
 * just made cannot end the new session a few seconds later.
 */
export async function startSession(c: Context<GatewayEnv>): Promise<void> {
  const key = sessionKey(c);
  if (!key) return;
  const current = await generation(c.env, true);
  await setSignedCookie(c, COOKIE, `${Date.now()}:${current}`, key, {
    httpOnly: true,
    secure: new URL(c.req.url).protocol === "https:",
    sameSite: "Strict",
    path: PATH,
    maxAge: SESSION_SECONDS,
  });
}

/**
 * The generation a request's session cookie carries, when the cookie is signed with the current
 * key and under SESSION_SECONDS old; undefined otherwise.
 */
async function carriedGeneration(c: Context<GatewayEnv>): Promise<number | undefined> {
  const key = sessionKey(c);
  if (!key) return undefined;
  const value = await getSignedCookie(c, key, COOKIE);
  const parts = typeof value === "string" ? /^(\d{1,16}):(\d{1,16})$/.exec(value) : null;
  if (!parts) return undefined;
  const age = Date.now() - Number(parts[1]);
  return age >= 0 && age < SESSION_SECONDS * 1000 ? Number(parts[2]) : undefined;
}

/** Whether `carried` is the current generation; throws when that cannot be read. */
async function isCurrent(env: Env, carried: number): Promise<boolean> {
  const current = await generation(env);
  // A session begun after a sign-out this isolate has not heard of yet: ask again, not refuse.
  if (carried > current) return carried === (await generation(env, true));
  return carried === current;
}

/**
 * Whether the request carries a session signed with the current key, not yet expired, and of the
 * current generation (no sign-out since it began). When the generation cannot be read no session
 * is good: a sign-out must not be undone by an object that is briefly unreachable.
 */
export async function hasSession(c: Context<GatewayEnv>): Promise<boolean> {
  const carried = await carriedGeneration(c);
  if (carried === undefined) return false;
  try {
    return await isCurrent(c.env, carried);
  } catch (error) {
    logOf(c.env).fault("error", {
      event: "dashboard-failure",
      reason: `reading the session generation failed: ${String(error)}`,
    });
    return false;
  }
}

/**
 * Signs out. A request with a good session ends every session of the deployment, this browser's
 * and any copy of its cookie, by moving to the next generation; the cookie is deleted either way.
 * A request without one ends nothing, so nobody can sign everyone else out. When the generation
 * cannot be read or moved this throws (a 500), rather than answer as if the session had ended.
 */
export async function endSession(c: Context<GatewayEnv>): Promise<void> {
  const carried = await carriedGeneration(c);
  if (carried !== undefined && (await isCurrent(c.env, carried))) {
    const value = await dashboardSessionsOf(c.env).endDashboardSessions();
    generations.set(c.env.ROUTE_SYNC, { value, readAt: Date.now() });
  }
  deleteCookie(c, COOKIE, { path: PATH });
}
