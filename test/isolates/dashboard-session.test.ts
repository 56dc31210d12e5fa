import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";

// A dashboard sign-out in one isolate ends the session in another: the session generation lives
// in a Durable Object, not in the memory of the isolate that signed out.

const TOKEN = "isolates-admin-token-0123456789abcdef";
const PAGE = { "x-roundhouse-dashboard": "1" };

let gateways: GatewayIsolates;

beforeAll(async () => {
  gateways = await startGatewayIsolates(2, { services: [] });
}, 60_000);

afterAll(async () => {
  await gateways?.close();
});

async function signIn(isolate: number): Promise<string> {
  const response = await gateways.fetch(isolate, "/_gw/dashboard/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: TOKEN }).toString(),
    redirect: "manual",
  });
  expect(response.status).toBe(303);
  return (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

async function fragment(isolate: number, cookie: string): Promise<number> {
  const response = await gateways.fetch(isolate, "/_gw/dashboard/fragment", {
    headers: { cookie, ...PAGE },
  });
  await response.arrayBuffer();
  return response.status;
}

describe("dashboard sessions across isolates", () => {
  it("refuses in a second isolate a cookie signed out of in the first", async () => {
    const cookie = await signIn(0);
    expect(await fragment(0, cookie)).toBe(200);
    const out = await gateways.fetch(0, "/_gw/dashboard/logout", {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    await out.arrayBuffer();
    expect(await fragment(1, cookie)).toBe(401);
    expect(await fragment(0, cookie)).toBe(401);
    // A session begun in the second isolate after the sign-out is good in both.
    const fresh = await signIn(1);
    expect(await fragment(1, fresh)).toBe(200);
    expect(await fragment(0, fresh)).toBe(200);
  });
});
