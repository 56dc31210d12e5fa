import { describe, expect, it } from "vitest";
import { addNodes, gateway, serviceName, setBehaviour } from "./helpers.ts";

// The dashboard's sign-in and pages over plain fetch; test/browser drives it in Chromium.

const TOKEN = "test-admin-token-0123456789abcdef";

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
    const fragment = await fetch("/_gw/dashboard/fragment", { headers: { cookie } });
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
      const response = await fetch("/_gw/dashboard/fragment", { headers });
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
});
