import type { Context } from "hono";
import { generateSignedCookie, getSignedCookie } from "hono/cookie";
import type { ResolvedService } from "../config/load.ts";
import type { Dispatched } from "../dispatch/attempt-loop.ts";
import type { GatewayEnv } from "./context.ts";

/**
 * Cookie session affinity, as Cloudflare Load Balancing's: the first answer sets a cookie naming
 * the node that gave it, later requests go to that node while it is routable, and a request that
 * lands elsewhere (its node ejected, unhealthy or gone) gets the cookie rewritten to its new node.
 * The value is signed with Hono's signed cookies (HMAC-SHA256), so a client can only present a
 * node it was given; it names the service too, so one service's cookie pins nothing in another.
 */

/** The node the request's affinity cookie names, if the service has affinity and it verifies. */
export async function affinityNode(
  c: Context<GatewayEnv>,
  service: ResolvedService,
): Promise<string | undefined> {
  const affinity = service.affinity;
  if (!affinity) return undefined;
  const value = await getSignedCookie(c, secretOf(c, affinity.secret), affinity.cookie);
  if (typeof value !== "string") return undefined;
  const prefix = `${service.name}/`;
  return value.startsWith(prefix) ? value.slice(prefix.length) : undefined;
}

/**
 * The answer, with the cookie set when its node is not the one the request was pinned to. A
 * fetched answer's headers are immutable, so that answer is rebuilt to carry the cookie: once a
 * session, not once a request.
 */
export async function keepAffinity(
  c: Context<GatewayEnv>,
  service: ResolvedService,
  pinned: string | undefined,
  { response, node }: Dispatched,
): Promise<Response> {
  const affinity = service.affinity;
  if (!affinity || node === undefined || node === pinned) return response;
  const cookie = await generateSignedCookie(
    affinity.cookie,
    `${service.name}/${node}`,
    secretOf(c, affinity.secret),
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

/** The signing secret; its presence and length are checked with the configuration (secrets.ts). */
function secretOf(c: Context<GatewayEnv>, name: string): string {
  return (c.env as unknown as Record<string, string>)[name] as string;
}
