import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { addNodes, gateway, serviceName } from "./helpers.ts";

const auth = { authorization: "Bearer test-admin-token-0123456789abcdef" };

async function setup() {
  const nodes = await addNodes(2);
  const name = serviceName("adm");
  const fetchVia = gateway({
    // No slow start: a registered node joins at full share, so a short burst must reach it.
    services: [{ name, nodes: [{ id: "static-1", url: nodes[0]!.url }], slowStartMs: 0 }],
  });
  return { nodes, name, fetchVia };
}

const post = (body: unknown) => ({
  method: "POST",
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("admin API authentication", () => {
  it.each([
    ["no header", {}],
    ["a wrong token", { authorization: "Bearer nope" }],
    ["a malformed header", { authorization: "Basic dXNlcjpwYXNz" }],
  ])("answers 401 problem+json for %s", async (_label, headers) => {
    const { name, fetchVia } = await setup();
    for (const path of ["/_gw/services", `/_gw/services/${name}`]) {
      const response = await fetchVia(path, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    const register = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
      method: "POST",
      headers,
      body: "{}",
    });
    expect(register.status).toBe(401);
  });

  it("protects every route by default; only the listed read-only ones are public", async () => {
    const { name, fetchVia } = await setup();
    // A path nobody listed (as a route added later would be) needs the token, like /sync.
    for (const path of [`/_gw/services/${name}/anything-new`, "/_gw/sync", "/_gw/admin/x"]) {
      expect((await fetchVia(path)).status).toBe(401);
    }
    expect((await fetchVia(`/_gw/services/${name}/localnodes`)).status).toBe(200);
    expect((await fetchVia("/_gw/openapi.json")).status).toBe(200);
  });

  it("refuses everything when no ADMIN_TOKEN is set", async () => {
    const { fetchVia } = await setup();
    const noToken = gateway({ services: [] }, { ADMIN_TOKEN: "" });
    expect((await noToken("/_gw/services", { headers: { authorization: "Bearer " } })).status).toBe(
      401,
    );
    expect((await fetchVia("/_gw/services", { headers: auth })).status).toBe(200);
  });
});

describe("admin API nodes", () => {
  it("registers a node that takes traffic, shows in the service, and survives a restart", async () => {
    const { nodes, name, fetchVia } = await setup();
    const created = await fetchVia(
      `/_gw/admin/services/${name}/nodes`,
      post({ url: nodes[1]!.url, id: "reg-1", dc: "dc1" }),
    );
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      id: "reg-1",
      url: nodes[1]!.url,
      dc: "dc1",
      weight: 1,
    });

    const served = new Set<string>();
    for (let i = 0; i < 40 && served.size < 2; i++) {
      const response = await fetchVia(`/s/${name}/`);
      await response.body?.cancel();
      served.add(response.headers.get("x-roundhouse-node") ?? "");
    }
    expect(served).toEqual(new Set(["static-1", "reg-1"]));

    const detail = (await (await fetchVia(`/_gw/services/${name}`, { headers: auth })).json()) as {
      nodes: { id: string; source: string }[];
    };
    expect(detail.nodes.map((n) => [n.id, n.source]).sort()).toEqual([
      ["reg-1", "registered"],
      ["static-1", "config"],
    ]);

    const stub = liveNodesOf(env, name);
    const after = await runInDurableObject(stub, (_i: LiveNodes, state) =>
      new LiveNodes(state, env).report(
        { service: name, nodes: [], egress: { kind: "internet" }, allow: ["127.0.0.0/8"] },
        [{ kind: "cluster" }],
      ),
    );
    expect(after.registered.map((n) => n.id)).toEqual(["reg-1"]);
  });

  it("keeps a removed node's records only as an unlisted one, over 50 rounds of churn", async () => {
    const { nodes, name, fetchVia } = await setup();
    for (let round = 0; round < 50; round++) {
      const id = `churn-${round}`;
      const added = await fetchVia(
        `/_gw/admin/services/${name}/nodes`,
        post({ id, url: `${nodes[1]!.url}/churn-${round}` }),
      );
      expect(added.status).toBe(201);
      const gone = await fetchVia(`/_gw/admin/services/${name}/nodes/${id}`, {
        method: "DELETE",
        headers: auth,
      });
      expect(gone.status).toBe(204);
    }
    const stored = await runInDurableObject(liveNodesOf(env, name), (_i: LiveNodes, state) =>
      state.storage.kv.get<{
        firstSeen: Record<string, number>;
        unlistedAt: Record<string, number>;
      }>("state"),
    );
    // Every removed node is counted as unlisted, so the retention (unlisted.test.ts) forgets it.
    const removed = Array.from({ length: 50 }, (_, round) => `churn-${round}`).sort();
    expect(Object.keys(stored?.unlistedAt ?? {}).sort()).toEqual(removed);
    expect(Object.keys(stored?.firstSeen ?? {}).sort()).toEqual([...removed, "static-1"].sort());
  });

  it("rejects a duplicate id with 409 and an invalid body with 400 naming the field", async () => {
    const { nodes, name, fetchVia } = await setup();
    const dup = await fetchVia(
      `/_gw/admin/services/${name}/nodes`,
      post({ url: nodes[1]!.url, id: "static-1" }),
    );
    expect(dup.status).toBe(409);
    // Another id at a URL the service already has, however spelled, would double that backend's
    // per-node limits: refused, and nothing is kept.
    const first = new URL(nodes[0]!.url);
    for (const url of [
      nodes[0]!.url,
      `${nodes[0]!.url}//`,
      `http://${first.hostname}:0${first.port}`,
    ]) {
      const sameUrl = await fetchVia(
        `/_gw/admin/services/${name}/nodes`,
        post({ url, id: "another-id" }),
      );
      expect(sameUrl.status, url).toBe(409);
      expect(sameUrl.headers.get("content-type")).toBe("application/problem+json");
    }
    const view = await fetchVia(`/_gw/services/${name}`, { headers: auth });
    const ids = ((await view.json()) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    expect(ids).not.toContain("another-id");
    const bad = await fetchVia(
      `/_gw/admin/services/${name}/nodes`,
      post({ url: "ftp://x", weight: 0 }),
    );
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const body = (await bad.json()) as { issues: { path: string }[] };
    expect(body.issues.map((i) => i.path).sort()).toEqual(["url", "weight"]);
    const notJson = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    // curl -d without -H sends a form content type: refused as such, with a problem that says so.
    const form = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ url: nodes[1]!.url }),
    });
    expect([400, 415]).toContain(form.status);
    expect(form.headers.get("content-type")).toBe("application/problem+json");
    if (form.status === 415) {
      expect(((await form.json()) as { type: string }).type).toBe(
        "urn:roundhouse:problem:unsupported-media-type",
      );
    }
    const huge = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: new Blob([new Uint8Array(256 * 1024)]).stream(),
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get("content-type")).toBe("application/problem+json");
  });

  it("removes a registered node, and refuses to remove configured or unknown ones", async () => {
    const { nodes, name, fetchVia } = await setup();
    await fetchVia(`/_gw/admin/services/${name}/nodes`, post({ url: nodes[1]!.url, id: "reg-2" }));
    const del = (id: string) =>
      fetchVia(`/_gw/admin/services/${name}/nodes/${id}`, { method: "DELETE", headers: auth });
    expect((await del("reg-2")).status).toBe(204);
    expect((await del("reg-2")).status).toBe(404);
    expect((await del("static-1")).status).toBe(409);
  });

  it("answers 404 for an unknown service", async () => {
    const { fetchVia } = await setup();
    expect((await fetchVia("/_gw/services/nope", { headers: auth })).status).toBe(404);
    expect(
      (await fetchVia("/_gw/admin/services/nope/nodes", post({ url: "http://127.0.0.1:1" })))
        .status,
    ).toBe(404);
  });
});

describe("services API", () => {
  it("lists services", async () => {
    const { name, fetchVia } = await setup();
    const list = (await (await fetchVia("/_gw/services", { headers: auth })).json()) as {
      name: string;
    }[];
    expect(list).toEqual([expect.objectContaining({ name, configuredNodes: 1, discovery: false })]);
  });

  it("answers /localnodes in the Alternator format, without auth", async () => {
    const { nodes, name, fetchVia } = await setup();
    const response = await fetchVia(`/_gw/services/${name}/localnodes`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([new URL(nodes[0]!.url).host]);
    expect(await (await fetchVia(`/_gw/services/${name}/localnodes?dc=elsewhere`)).json()).toEqual(
      [],
    );
  });

  it("serves an OpenAPI document of the admin API", async () => {
    const { fetchVia } = await setup();
    const doc = (await (await fetchVia("/_gw/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/admin/services/{service}/nodes",
        "/services/{service}",
        "/services/{service}/localnodes",
      ]),
    );
  });
});

describe("request scope header", () => {
  it("answers 400 for a malformed x-roundhouse-scope when the service allows the header", async () => {
    const nodes = await addNodes(1);
    const name = serviceName("hdr");
    const fetchVia = gateway({
      services: [{ name, nodes: [{ url: nodes[0]!.url, dc: "a" }], scope: { allowHeader: true } }],
    });
    const bad = await fetchVia(`/s/${name}/`, { headers: { "x-roundhouse-scope": "rack=r1" } });
    expect(bad.status).toBe(400);
    const good = await fetchVia(`/s/${name}/`, { headers: { "x-roundhouse-scope": "dc=a" } });
    expect(good.status).toBe(200);
  });
});
