import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { dashboardSessionsOf } from "../../src/durable/stubs.ts";
import { addNodes, gateway, serviceName, setBehaviour } from "./helpers.ts";

// The dashboard's sign-in and pages over plain fetch; test/browser drives it in Chromium.

const TOKEN = "test-admin-token-0123456789abcdef";
// What the dashboard page's own fetch of its fragment sends.
const PAGE = { "x-roundhouse-dashboard": "1" };

async function sessionCookie(signIn: () => Promise<Response>): Promise<string> {
  const response = await signIn();
  expect(response.status).toBe(303);
  return (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

function dashboard(config: unknown, origin = "http://gateway.test") {
  const fetch = gateway(config);
  const signIn = async (token = TOKEN) =>
    fetch("/_gw/dashboard/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: new URLSearchParams({ token }).toString(),
      redirect: "manual",
    });
  return { fetch, signIn };
}

describe("GET /_gw/dashboard", () => {
  it("signs in through a form, with a signed HttpOnly SameSite=Strict session cookie", async () => {
    const nodes = await addNodes(3);
    const name = serviceName("dash");
    const { fetch, signIn } = dashboard({
      services: [
        {
          name,
          nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
          ejection: { consecutiveFailures: 1 },
        },
      ],
    });
    const anonymous = await fetch("/_gw/dashboard");
    expect(anonymous.status).toBe(200);
    const form = await anonymous.text();
    expect(form).toContain('action="/_gw/dashboard/login"');
    expect(form).not.toContain(name);
    expect(anonymous.headers.get("content-security-policy")).toContain("default-src 'none'");

    const wrong = await signIn("not-the-token");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const ok = await signIn();
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/_gw/dashboard");
    const setCookie = ok.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^roundhouse-session=/);
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).toContain("Path=/_gw/dashboard");
    expect(setCookie).not.toContain("Secure");
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(";")[0] as string;

    await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
    for (let i = 0; i < 4; i++) await (await fetch(`/s/${name}/`)).body?.cancel();
    const page = await (await fetch("/_gw/dashboard", { headers: { cookie } })).text();
    for (const node of nodes) expect(page).toContain(`data-node="${node.id}"`);
    expect(page).toContain(`data-node="${nodes[0]!.id}" data-state="ejected"`);
    const drain = await fetch(`/_gw/admin/services/${name}/nodes/${nodes[2]!.id}/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(drain.status).toBe(200);
    const fragment = await fetch("/_gw/dashboard/fragment", { headers: { cookie, ...PAGE } });
    expect(fragment.status).toBe(200);
    const rows = await fragment.text();
    expect(rows).toContain(`data-service="${name}"`);
    expect(rows).toContain(`data-node="${nodes[2]!.id}" data-state="draining"`);
    expect(rows).toContain(`data-node="${nodes[1]!.id}" data-state="healthy"`);
  });

  it("refuses the fragment without a session, and a forged or tampered one", async () => {
    const { fetch } = dashboard({ services: [] });
    const attempts: Record<string, string>[] = [
      {},
      { cookie: "roundhouse-session=1700000000000" },
      { cookie: "roundhouse-session=1.AAAA" },
    ];
    for (const headers of attempts) {
      const response = await fetch("/_gw/dashboard/fragment", { headers: { ...headers, ...PAGE } });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
    }
  });

  it("marks the session cookie Secure when served over https", async () => {
    const fetch = gateway({ services: [] }, {}, "https://gateway.test");
    const response = await fetch("/_gw/dashboard/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${TOKEN}`,
      redirect: "manual",
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("set-cookie")).toContain("Secure");
  });

  it("refuses a sign-in or sign-out form sent from another origin with 403", async () => {
    const { fetch, signIn } = dashboard({ services: [] });
    const cookie = await sessionCookie(signIn);
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const crossSite: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: "null", "sec-fetch-site": "cross-site" },
      { origin: "https://gateway.test" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const headers of crossSite) {
      for (const path of ["/_gw/dashboard/login", "/_gw/dashboard/logout"]) {
        const response = await fetch(path, {
          method: "POST",
          headers: { ...form, ...headers, cookie },
          body: `token=${TOKEN}`,
          redirect: "manual",
        });
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
        expect(response.headers.get("content-type")).toContain("application/problem+json");
        expect(response.headers.get("set-cookie")).toBeNull();
      }
    }
    // The refused sign-out ended nothing; the page's own one does.
    const page = await fetch("/_gw/dashboard/fragment", { headers: { cookie, ...PAGE } });
    expect(page.status).toBe(200);
    // A browser withholding the page's origin says where the form came from in Sec-Fetch-Site.
    const withheld = await fetch("/_gw/dashboard/login", {
      method: "POST",
      headers: { ...form, origin: "null", "sec-fetch-site": "same-origin" },
      body: `token=${TOKEN}`,
      redirect: "manual",
    });
    expect(withheld.status).toBe(303);
    const own = await fetch("/_gw/dashboard/logout", {
      method: "POST",
      headers: { origin: "http://gateway.test", "sec-fetch-site": "same-origin", cookie },
      redirect: "manual",
    });
    expect(own.status).toBe(303);
    expect(own.headers.get("set-cookie")).toMatch(/^roundhouse-session=;/);
  });

  it("marks every dashboard answer, signed in or not, Cache-Control: no-store", async () => {
    const { fetch, signIn } = dashboard({ services: [] });
    const login = await signIn();
    expect(login.headers.get("cache-control")).toBe("no-store");
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const answers = [
      await fetch("/_gw/dashboard"),
      await fetch("/_gw/dashboard", { headers: { cookie } }),
      await fetch("/_gw/dashboard/fragment", { headers: { cookie, ...PAGE } }),
      await fetch("/_gw/dashboard/fragment"),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 401]);
    // So that the page's own forms carry its origin (see the origin check).
    expect(answers[1]?.headers.get("referrer-policy")).toBe("same-origin");
    for (const answer of answers) expect(answer.headers.get("cache-control")).toBe("no-store");
  });

  it("serves the fragment only to a request carrying the page's own header", async () => {
    const { fetch, signIn } = dashboard({ services: [] });
    const cookie = await sessionCookie(signIn);
    const bare = await fetch("/_gw/dashboard/fragment", { headers: { cookie } });
    expect(bare.status).toBe(403);
    expect(bare.headers.get("content-type")).toContain("application/problem+json");
    const page = await (await fetch("/_gw/dashboard", { headers: { cookie } })).text();
    // The page's script sends the header the fragment asks for.
    expect(page).toContain('"x-roundhouse-dashboard":"1"');
  });

  it("refuses after a sign-out every session begun before it, a copied cookie among them", async () => {
    const { fetch, signIn } = dashboard({ services: [] });
    const signedIn = async (cookie: string) =>
      (await fetch("/_gw/dashboard/fragment", { headers: { cookie, ...PAGE } })).status;
    const signOut = (cookie: string) =>
      fetch("/_gw/dashboard/logout", {
        method: "POST",
        headers: { origin: "http://gateway.test", cookie },
        redirect: "manual",
      });
    const cookie = await sessionCookie(signIn);
    const copy = cookie;
    const other = await sessionCookie(signIn);
    expect([await signedIn(cookie), await signedIn(other)]).toEqual([200, 200]);

    // Signing out without a session ends nobody's.
    const before = await dashboardSessionsOf(env).dashboardGeneration();
    expect((await signOut("roundhouse-session=1700000000000")).status).toBe(303);
    expect(await signedIn(other)).toBe(200);
    expect(await dashboardSessionsOf(env).dashboardGeneration()).toBe(before);

    const out = await signOut(cookie);
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/^roundhouse-session=;/);
    expect(await signedIn(copy)).toBe(401);
    expect(await signedIn(other)).toBe(401);
    const page = await (await fetch("/_gw/dashboard", { headers: { cookie: copy } })).text();
    expect(page).toContain('action="/_gw/dashboard/login"');
    // Kept in the object every isolate reads, not only in this one's memory.
    expect(await dashboardSessionsOf(env).dashboardGeneration()).toBe(before + 1);

    const again = await sessionCookie(signIn);
    expect(await signedIn(again)).toBe(200);
    expect(await signedIn(copy)).toBe(401);
  });

  it("takes no session for good while the generation cannot be read, and fails sign-out aloud", async () => {
    const { signIn } = dashboard({ services: [] });
    const cookie = await sessionCookie(signIn);
    const unreachable = {
      idFromName: (name: string) => env.ROUTE_SYNC.idFromName(name),
      get: () => ({
        dashboardGeneration: () => Promise.reject(new Error("object unreachable")),
        endDashboardSessions: () => Promise.reject(new Error("object unreachable")),
      }),
    } as unknown as Env["ROUTE_SYNC"];
    const fetch = gateway({ services: [] }, { ROUTE_SYNC: unreachable });
    const fragment = await fetch("/_gw/dashboard/fragment", { headers: { cookie, ...PAGE } });
    expect(fragment.status).toBe(401);
    const out = await fetch("/_gw/dashboard/logout", {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    expect(out.status).toBe(500);
    expect(out.headers.get("content-type")).toContain("application/problem+json");
    expect(out.headers.get("set-cookie")).toBeNull();
  });
});
