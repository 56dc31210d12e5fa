import { describe, expect, it } from "vitest";
import { useFleet } from "./cluster-fixture.ts";

const { fleet, control } = useFleet();

describe("control server", () => {
  it("creates nodes with default and explicit ids", async () => {
    const first = await control("POST", "/nodes");
    expect(first).toMatchObject({ status: 201, json: { id: "node-1", dc: null, rack: null } });
    const second = await control("POST", "/nodes", { id: "edge", dc: "ams", rack: "r2" });
    expect(second).toMatchObject({ status: 201, json: { id: "edge", dc: "ams", rack: "r2" } });
    const { url, port } = second.json as { url: string; port: number };
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const res = await fetch(`${url}/x`);
    expect(res.headers.get("x-node-id")).toBe("edge");
    expect([...fleet().nodes.keys()]).toEqual(["node-1", "edge"]);
  });

  it("lists nodes with their behaviour", async () => {
    await control("POST", "/nodes", { behaviour: { delayMs: 7 } });
    const { status, json } = await control("GET", "/nodes");
    expect(status).toBe(200);
    expect(json).toEqual([
      {
        id: "node-1",
        url: fleet().nodes.get("node-1")?.url,
        host: "127.0.0.1",
        port: fleet().nodes.get("node-1")?.port,
        dc: null,
        rack: null,
        cluster: null,
        behaviour: expect.objectContaining({ mode: "ok", delayMs: 7 }),
      },
    ]);
  });

  it("rejects bad node requests", async () => {
    await control("POST", "/nodes", { id: "a" });
    expect(await control("POST", "/nodes", { id: "a" })).toMatchObject({ status: 409 });
    expect(await control("POST", "/nodes", "{not json")).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes", [1])).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes", { id: "a/b" })).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes", { port: "80" })).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes", { colour: "red" })).toMatchObject({ status: 400 });
    const badMode = await control("POST", "/nodes", { behaviour: { mode: "bogus" } });
    expect(badMode).toMatchObject({ status: 400, json: { error: expect.stringMatching(/mode/) } });
    const taken = fleet().nodes.get("a")?.port;
    expect(await control("POST", "/nodes", { port: taken })).toMatchObject({ status: 409 });
    expect([...fleet().nodes.keys()]).toEqual(["a"]);
  });

  it("changes behaviour and validates it", async () => {
    await control("POST", "/nodes");
    const changed = await control("POST", "/nodes/node-1/behaviour", { mode: "fail" });
    expect(changed).toMatchObject({ status: 200, json: { mode: "fail", failStatus: 503 } });
    expect((await fetch(fleet().nodes.get("node-1")?.url ?? "")).status).toBe(503);
    expect(await control("POST", "/nodes/node-1/behaviour", { mode: "nope" })).toMatchObject({
      status: 400,
    });
    expect(await control("POST", "/nodes/node-1/behaviour", "{")).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes/ghost/behaviour", { mode: "ok" })).toMatchObject({
      status: 404,
    });
    expect(fleet().nodes.get("node-1")?.behaviour().mode).toBe("fail");
  });

  it("reports and resets stats", async () => {
    await control("POST", "/nodes");
    const url = fleet().nodes.get("node-1")?.url ?? "";
    await (await fetch(url, { headers: { "x-request-id": "r" } })).arrayBuffer();
    const stats = await control("GET", "/nodes/node-1/stats");
    expect(stats).toMatchObject({ status: 200, json: { requests: 1, byRequestId: { r: 1 } } });
    expect(await control("POST", "/nodes/node-1/reset-stats")).toEqual({ status: 204, json: null });
    expect(await control("GET", "/nodes/node-1/stats")).toMatchObject({ json: { requests: 0 } });
  });

  it("stops, starts and deletes nodes", async () => {
    await control("POST", "/nodes");
    const url = fleet().nodes.get("node-1")?.url ?? "";
    expect(await control("POST", "/nodes/node-1/stop")).toMatchObject({ status: 204 });
    await expect(fetch(url)).rejects.toThrow();
    expect(await control("POST", "/nodes/node-1/start")).toMatchObject({ status: 204 });
    expect((await fetch(url)).status).toBe(200);
    expect(await control("DELETE", "/nodes/node-1")).toMatchObject({ status: 204 });
    await expect(fetch(url)).rejects.toThrow();
    expect(await control("GET", "/nodes/node-1/stats")).toMatchObject({ status: 404 });
    expect(await control("DELETE", "/nodes/node-1")).toMatchObject({ status: 404 });
  });

  it("answers unknown routes and methods with JSON errors", async () => {
    expect(await control("GET", "/nope")).toMatchObject({
      status: 404,
      json: { error: expect.any(String) },
    });
    expect(await control("PUT", "/nodes")).toMatchObject({ status: 405 });
    expect(await control("GET", "/nodes/%E0%A4%A/stats")).toMatchObject({ status: 400 });
    expect(await control("POST", "/nodes", "x".repeat(70_000))).toMatchObject({ status: 413 });
    expect((await control("GET", "/nodes")).status).toBe(200);
  });

  it("close shuts every node", async () => {
    const node = await fleet().addNode({ id: "z" });
    await fleet().close();
    await expect(fetch(node.url)).rejects.toThrow();
    await expect(fetch(fleet().url)).rejects.toThrow();
  });
});

describe("fake peer control", () => {
  it("answers a fake peer's own errors with their status and message", async () => {
    expect(await control("GET", "/peers/nobody")).toEqual({
      status: 404,
      json: { error: 'no peer "nobody"' },
    });
    expect(await control("POST", "/peers", { name: "bad name!" })).toEqual({
      status: 400,
      json: { error: "bad peer name bad name!" },
    });
    expect((await control("POST", "/peers", { name: "p" })).status).toBe(201);
    expect(await control("POST", "/peers", { name: "p" })).toEqual({
      status: 409,
      json: { error: 'peer "p" exists' },
    });
    expect(await control("POST", "/peers/p/behaviour", { mode: "sideways" })).toEqual({
      status: 400,
      json: { error: "unknown mode sideways" },
    });
  });

  it("counts requests in flight by group as well as for the whole set", async () => {
    const created = await control("POST", "/peers", { count: 2, group: "g1", delayMs: 300 });
    const [a, b] = created.json as { name: string; url: string }[];
    const other = (await control("POST", "/peers", { group: "g2", delayMs: 300 })).json as {
      url: string;
    }[];
    // Each peer answers a digest request after 300 ms; all three are held at once.
    await Promise.all(
      [a!.url, b!.url, other[0]!.url].map((url) => fetch(`${url}/_gw/peer/digest`)),
    );
    expect((await control("GET", "/peers/stats?group=g1")).json).toEqual({
      inFlight: 0,
      peakInFlight: 2,
    });
    expect((await control("GET", "/peers/stats?group=g2")).json).toMatchObject({ peakInFlight: 1 });
    expect((await control("GET", "/peers/stats")).json).toMatchObject({ peakInFlight: 3 });
    expect((await control("GET", "/peers/stats?group=none")).json).toEqual({
      inFlight: 0,
      peakInFlight: 0,
    });
  });
});
