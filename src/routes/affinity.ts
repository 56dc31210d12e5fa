import type { Context } from "hono";
import { generateSignedCookie, getSignedCookie } from "hono/cookie";
import { envString } from "../config/env-value.ts";
import type { ResolvedService } from "../config/load.ts";
import type { AffinitySettings } from "../config/policy-schema.ts";
import type { Dispatched } from "../dispatch/attempt-loop.ts";
import type { Pin } from "../dispatch/plan.ts";
import type { GatewayEnv } from "./context.ts";

/**
 * Cookie session affinity, as Cloudflare Load Balancing's: the first answer sets a cookie naming
 * the node that gave it, later requests go to that node while it is routable, and a request that
 * lands elsewhere (its node ejected, unhealthy or gone) gets the cookie rewritten to its new node.
 * The value is signed with Hono's signed cookies (HMAC-SHA256), so a client can only present a
 * node it was given; it names the service too, so one service's cookie pins nothing in another,
 * and the time it was issued, so that it pins nothing after `ttlSeconds` whatever the client does
 * with its Max-Age.
 */

/** Seconds a cookie's issue time may lie ahead of this clock: isolates' clocks differ a little. */
const CLOCK_SKEW_SECONDS = 60;

const SESSION = /^([^/]+)\/(\d{1,12})$/;

/** The node a session's cookie names, for one request. */
export class Session implements Pin {
  readonly node: string;
  #spilled = false;

  constructor(node: string) {
    this.node = node;
  }

  spilled(): void {
    this.#spilled = true;
  }

  /** The node was at its bounded load, so this request went elsewhere and the session stays. */
  get wasSpilled(): boolean {
    return this.#spilled;
  }
}

/**
 * The session the request's affinity cookie names, if the service has affinity and the cookie
 * verifies, is this service's, and was issued less than `ttlSeconds` ago.
 */
export async function affinityNode(
  c: Context<GatewayEnv>,
  service: ResolvedService,
): Promise<Session | undefined> {
  const affinity = service.affinity;
  if (!affinity) return undefined;
  const value = await getSignedCookie(c, signingKey(c, affinity), affinity.cookie);
  if (typeof value !== "string") return undefined;
  const prefix = `${service.name}/`;
  if (!value.startsWith(prefix)) return undefined;
  // A cookie of the earlier `{service}/{node}` form has no issue time and pins nothing.
  const match = SESSION.exec(value.slice(prefix.length));
  if (!match) return undefined;
  const age = Math.floor(Date.now() / 1000) - Number(match[2]);
  if (age >= affinity.ttlSeconds || age < -CLOCK_SKEW_SECONDS) return undefined;
  return new Session(match[1] as string);
}

/**
 * The answer, with the cookie set when its node is not the one the request was pinned to, unless
 * the pinned node only had no room for this request. A fetched answer's headers are immutable, so
 * that answer is rebuilt to carry the cookie: once a session, not once a request.
 */
export async function keepAffinity(
  c: Context<GatewayEnv>,
  service: ResolvedService,
  pinned: Session | undefined,
  { response, node }: Dispatched,
): Promise<Response> {
  const affinity = service.affinity;
  if (!affinity || node === undefined) return response;
  if (pinned && (node === pinned.node || pinned.wasSpilled)) return response;
  const issuedAt = Math.floor(Date.now() / 1000);
  const cookie = await generateSignedCookie(
    affinity.cookie,
    `${service.name}/${node}/${issuedAt}`,
    signingKey(c, affinity),
    {
      path: affinity.path,
      maxAge: affinity.ttlSeconds,
      sameSite: affinity.sameSite,
      secure: affinity.secure,
      httpOnly: affinity.httpOnly,
      ...(affinity.domain === undefined ? {} : { domain: affinity.domain }),
    },
  );
  const answer = new Response(response.body, response);
  answer.headers.append("set-cookie", cookie);
  return answer;
}

/**
 * The key the cookie is signed with. Bound to the client's address, the address is part of the
 * key rather than the value: the cookie carries no address, and one presented from another
 * address fails to verify, as a forged one does.
 */
function signingKey(c: Context<GatewayEnv>, affinity: AffinitySettings): string {
  const secret = secretOf(c, affinity.secret);
  if (affinity.bindTo !== "client-ip") return secret;
  return `${secret}\u0000client-ip\u0000${c.req.header("cf-connecting-ip") ?? ""}`;
}

/** The signing secret; its presence and length are checked with the configuration (secrets.ts). */
function secretOf(c: Context<GatewayEnv>, name: string): string {
  const secret = envString(c.env, name);
  // The configuration refuses to load without it, so this is a broken deployment, never a cookie
  // signed with an empty key.
  if (secret === undefined) throw new Error(`affinity secret ${name} is not set`);
  return secret;
}
