import { describe, expect, it } from "vitest";
import { ADMIN, gateway } from "./helpers.ts";

describe("bad configuration", () => {
  const bad = { services: [{ name: "echo", nodes: [{ url: "ftp://nope" }] }] };

  it("answers every request 503 problem+json naming the bad field", async () => {
    const response = await gateway(bad)("/s/echo/");
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const body = (await response.json()) as { type: string; issues: { path: string }[] };
    expect(body.type).toBe("urn:roundhouse:problem:bad-config");
    expect(body.issues.map((i) => i.path)).toContain("services[0].nodes[0].url");
  });

  it("says why on /_gw/health", async () => {
    const response = await gateway(bad)("/_gw/health");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: "bad-config",
      issues: [{ path: "services[0].nodes[0].url" }],
    });
  });

  it("rejects JSON that does not parse", async () => {
    const response = await gateway("{ services: ")("/s/echo/");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ issues: [{ path: "ROUNDHOUSE_CONFIG" }] });
  });

  it("reports ok with the service names for a good configuration", async () => {
    const response = await gateway({ services: [{ name: "a", nodes: [] }] })("/_gw/health", {
      headers: ADMIN,
    });
    expect(await response.json()).toEqual({ status: "ok", services: ["a"] });
  });
});
