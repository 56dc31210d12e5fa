import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { fail, problem } from "../http/problem.ts";
import type { GatewayEnv } from "./context.ts";
import { serviceCard } from "./dashboard-data.ts";
import { dashboardGuard, fromDashboardPage, PAGE_HEADER } from "./dashboard-guard.ts";
import { endSession, hasSession, startSession, tokenMatches } from "./dashboard-session.ts";
import { Dashboard, Services, SignIn } from "./dashboard-view.tsx";
import { shipOwnCounts } from "./metrics-collect.ts";

type DashboardEnv = GatewayEnv & { Variables: { secureHeadersNonce?: string } };

async function cards(c: Context<DashboardEnv>) {
  const now = Date.now();
  const services = [...c.get("config").values()];
  await shipOwnCounts(c.env, services, now);
  return Promise.all(services.map((service) => serviceCard(c.env, service, c.get("sync"), now)));
}

/**
 * `GET /_gw/dashboard`: every service and its nodes, server-rendered with hono/jsx and no asset
 * from anywhere else; the page fetches a fresh rendering of its services every two seconds.
 * Signing in takes the admin token through a form and answers with a signed session cookie.
 * Forms from another origin are refused, and nothing the dashboard answers may be cached.
 */
export const dashboardRoutes = new Hono<DashboardEnv>()
  .use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        styleSrc: [NONCE],
        scriptSrc: [NONCE],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        imgSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
      // Not the default no-referrer: under it a browser sends `Origin: null` with the page's own
      // forms, and the origin check needs the real one. Nothing leaves for another origin.
      referrerPolicy: "same-origin",
    }),
  )
  .use("*", dashboardGuard)
  .get("/", async (c) => {
    const nonce = c.get("secureHeadersNonce");
    if (!(await hasSession(c))) return c.html(<SignIn nonce={nonce} />);
    return c.html(<Dashboard cards={await cards(c)} nonce={nonce} />);
  })
  .get("/fragment", async (c) => {
    if (!(await hasSession(c))) {
      return problem({
        status: 401,
        type: "unauthorized",
        title: "Unauthorized",
        detail: "sign in",
      });
    }
    if (!fromDashboardPage(c)) {
      return problem({
        status: 403,
        type: "forbidden",
        title: "Forbidden",
        detail: `the fragment is read by the dashboard page, which sends ${PAGE_HEADER}`,
      });
    }
    return c.html(<Services cards={await cards(c)} />);
  })
  .post("/login", bodyLimit({ maxSize: 4096 }), async (c) => {
    // A multipart body without its boundary makes the parser throw: that is the client's 400.
    const form = await c.req.parseBody().catch(() =>
      fail(
        problem({
          status: 400,
          type: "bad-request",
          title: "Bad sign-in form",
          detail: "the form body could not be parsed",
        }),
      ),
    );
    const token = typeof form.token === "string" ? form.token : "";
    if (!(await tokenMatches(c, token))) {
      const nonce = c.get("secureHeadersNonce");
      return c.html(<SignIn error="That is not the admin token." nonce={nonce} />, 401);
    }
    await startSession(c);
    return c.redirect("/_gw/dashboard", 303);
  })
  .post("/logout", async (c) => {
    await endSession(c);
    return c.redirect("/_gw/dashboard", 303);
  });
