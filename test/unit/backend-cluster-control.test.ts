import { describe, expect, it, vi } from "vitest";
import { startOnSharedPort } from "../../backend/cluster.ts";
import type { BackendNode } from "../../backend/node-types.ts";
import { ListenError } from "../../backend/server-lifecycle.ts";
import { TWO_DCS, useFleet } from "./cluster-fixture.ts";

const { fleet, control, cluster } = useFleet();

describe("control input", () => {
  it("rejects bad cluster requests without starting anything", async () => {
    const ok = { dc: "dc1", rack: "r1", count: 1 };
    const bad: unknown[] = [
      "{nope",
      [],
      {},
      { layout: [] },
      { layout: ok },
      { layout: [ok], colour: "red" },
      { layout: [{ ...ok, colour: "red" }] },
      { layout: [{ ...ok, dc: "a/b" }] },
      { layout: [{ ...ok, rack: "" }] },
      { layout: [{ ...ok, dc: 1 }] },
      { layout: [{ ...ok, count: 0 }] },
      { layout: [{ ...ok, count: 1.5 }] },
      { layout: [{ ...ok, count: "2" }] },
      {
        layout: [
          { ...ok, count: 200 },
          { ...ok, count: 55 },
        ],
      },
      { layout: [{ ...ok, behaviour: { mode: "nope" } }] },
      { layout: [{ ...ok, behaviour: { discovery: "nope" } }] },
      { layout: [ok], name: "a b" },
      { layout: [ok], name: "x".repeat(33) },
      { layout: [{ ...ok, dc: "d".repeat(32), rack: "r".repeat(32) }] },
      { layout: [ok], port: 0 },
      { layout: [ok], port: 70_000 },
      { layout: [ok], port: "9042" },
      { layout: [ok], addressFormat: "url" },
    ];
    for (const body of bad) {
      const answer = await control("POST", "/clusters", body);
      expect(answer, JSON.stringify(body)).toMatchObject({
        status: 400,
        json: { error: expect.any(String) },
      });
    }
    expect(fleet().nodes.size).toBe(0);
    expect(fleet().clusters.size).toBe(0);
  });

  it("answers 409 for a taken cluster name or node id", async () => {
    await cluster({ name: "c" });
    expect(await control("POST", "/clusters", { name: "c", layout: TWO_DCS })).toMatchObject({
      status: 409,
    });
    await control("POST", "/nodes", { id: "d-dc1-r1-2" });
    const clash = await control("POST", "/clusters", { name: "d", layout: TWO_DCS });
    expect(clash).toMatchObject({
      status: 409,
      json: { error: expect.stringMatching(/d-dc1-r1-2/) },
    });
    expect([...fleet().clusters.keys()]).toEqual(["c"]);
    expect(fleet().nodes.size).toBe(6);
  });

  it("validates node addresses and cluster joins", async () => {
    await cluster({ name: "c" });
    const port = fleet().clusters.get("c")!.port;
    const cases: [unknown, number][] = [
      [{ host: "10.0.0.1" }, 400],
      [{ host: "::1" }, 400],
      [{ host: "localhost" }, 400],
      [{ host: 127 }, 400],
      [{ cluster: "ghost", dc: "dc1", rack: "r1" }, 404],
      [{ cluster: "c", dc: "dc1" }, 400],
      [{ cluster: "c", dc: "dc1", rack: "r1", port: port === 65535 ? 1 : port + 1 }, 400],
      [{ cluster: "c", dc: "dc/1", rack: "r1" }, 400],
      [{ cluster: "c", dc: "dc1", rack: "r1", host: "127.1.1.1" }, 409],
    ];
    for (const [body, status] of cases) {
      const answer = await control("POST", "/nodes", body);
      expect(answer, JSON.stringify(body)).toMatchObject({ status });
    }
    expect(fleet().nodes.size).toBe(5);
    const own = await control("POST", "/nodes", { id: "solo", host: "127.0.0.9" });
    expect(own).toMatchObject({ status: 201, json: { host: "127.0.0.9", cluster: null } });
    const solo = (own.json as { url: string }).url;
    expect(solo).toMatch(/^http:\/\/127\.0\.0\.9:\d+$/);
    // Outside a cluster, /localnodes is just data.
    expect(await (await fetch(`${solo}/localnodes`)).json()).toMatchObject({ node: "solo" });
  });

  it("answers unknown cluster routes and methods with JSON errors", async () => {
    expect(await control("PUT", "/clusters")).toMatchObject({ status: 405 });
    expect(await control("POST", "/clusters/x")).toMatchObject({ status: 405 });
    expect(await control("GET", "/clusters/%E0%A4%A")).toMatchObject({ status: 400 });
    expect(await control("GET", "/clusters")).toEqual({ status: 200, json: [] });
  });
});

describe("shared port search", () => {
  it("retries every address on another port after EADDRINUSE anywhere", async () => {
    const closed: number[] = [];
    const fake = (port: number) =>
      ({ port, close: async () => void closed.push(port) }) as unknown as BackendNode;
    const inUse = (port: number) =>
      new ListenError("127.1.1.2", port, Object.assign(new Error("busy"), { code: "EADDRINUSE" }));
    const tried: number[] = [];
    const start = vi.fn((port: number) => {
      tried.push(port);
      const second = tried.length === 1 ? Promise.reject(inUse(port)) : Promise.resolve(fake(port));
      return [Promise.resolve(fake(port)), second];
    });
    const nodes = await startOnSharedPort(undefined, start);
    expect(tried).toHaveLength(2);
    expect(closed).toEqual([tried[0]]);
    expect(nodes.map((node) => node.port)).toEqual([tried[1], tried[1]]);
    for (const port of tried) expect(port).toBeGreaterThanOrEqual(1024);
  });

  it("gives a fixed port one try and passes other errors on at once", async () => {
    const start = vi.fn((port: number) => [
      Promise.reject(
        new ListenError("127.1.1.1", port, Object.assign(new Error("x"), { code: "EADDRINUSE" })),
      ),
    ]);
    await expect(startOnSharedPort(4242, start)).rejects.toMatchObject({ port: 4242 });
    expect(start).toHaveBeenCalledTimes(1);
    const denied = vi.fn((port: number) => [
      Promise.reject(
        new ListenError("127.1.1.1", port, Object.assign(new Error("x"), { code: "EACCES" })),
      ),
    ]);
    await expect(startOnSharedPort(undefined, denied)).rejects.toMatchObject({ code: "EACCES" });
    expect(denied).toHaveBeenCalledTimes(1);
  });
});
