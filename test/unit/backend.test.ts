import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BehaviourError } from "../../backend/behaviour.ts";
import { startNode } from "../../backend/node-server.ts";
import type { BackendNode, NodeOptions } from "../../backend/node-types.ts";
import { ListenError } from "../../backend/server-lifecycle.ts";
import { waitFor } from "./wait-for.ts";

const open: BackendNode[] = [];

async function node(options: Partial<NodeOptions> = {}): Promise<BackendNode> {
  const started = await startNode({ id: "n1", ...options });
  open.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

async function timed(url: string, init?: RequestInit): Promise<{ res: Response; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return { res, ms: performance.now() - started };
}

/** Attaches the handler at once, so a rejection during a later await is not "unhandled". */
function outcome(pending: Promise<Response>): Promise<Response | Error> {
  return pending.then(
    (res) => res,
    (error: Error) => error,
  );
}

async function refusal(url: string): Promise<unknown> {
  const error = await outcome(fetch(url));
  expect(error).toBeInstanceOf(TypeError);
  return (error as TypeError).cause;
}

describe("ok mode", () => {
  it("echoes the request with the node id", async () => {
    const n = await node({ dc: "ams", rack: "r1" });
    expect(n.url).toBe(`http://127.0.0.1:${n.port}`);
    expect([n.dc, n.rack]).toEqual(["ams", "r1"]);
    const res = await fetch(`${n.url}/a/b?x=1&y=2`, { headers: { "x-request-id": "r1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-node-id")).toBe("n1");
    const echo = (await res.json()) as { headers: Record<string, string> };
    expect(echo).toMatchObject({
      node: "n1",
      method: "GET",
      path: "/a/b",
      query: "x=1&y=2",
      requestId: "r1",
      bodyBytes: 0,
    });
    expect(echo.headers["x-request-id"]).toBe("r1");
  });

  it("reads and counts the whole body, for any method", async () => {
    const n = await node();
    const res = await fetch(`${n.url}/upload`, { method: "PUT", body: "x".repeat(200_000) });
    expect(await res.json()).toMatchObject({ method: "PUT", bodyBytes: 200_000 });
    const localnodes = await fetch(`${n.url}/localnodes`);
    expect(await localnodes.json()).toMatchObject({ path: "/localnodes" });
    expect(n.stats().byMethod).toEqual({ PUT: 1, GET: 1 });
  });
});

describe("handshake delay", () => {
  it("delays headers and counts concurrent handshakes", async () => {
    const n = await node({ behaviour: { delayMs: 150 } });
    const results = await Promise.all(Array.from({ length: 5 }, () => timed(n.url)));
    for (const { res, ms } of results) {
      expect(res.status).toBe(200);
      expect(res.headers.get("x-backend-delay-ms")).toBe("150");
      expect(ms).toBeGreaterThanOrEqual(145);
    }
    expect(n.stats()).toMatchObject({ requests: 5, inHandshake: 0, peakHandshakes: 5 });
  });

  it("lets x-backend-delay-ms override delayMs per request", async () => {
    const n = await node({ behaviour: { delayMs: 5_000 } });
    const { res, ms } = await timed(n.url, { headers: { "x-backend-delay-ms": "100" } });
    expect(res.headers.get("x-backend-delay-ms")).toBe("100");
    expect(ms).toBeGreaterThanOrEqual(95);
    expect(ms).toBeLessThan(5_000);
  });

  it("adds the response headers a request asks for, and ignores a malformed ask", async () => {
    const n = await node();
    const asked = await fetch(n.url, {
      headers: { "x-backend-response-headers": JSON.stringify({ "x-extra": "1", "x-num": 2 }) },
    });
    await asked.body?.cancel();
    expect(asked.headers.get("x-extra")).toBe("1");
    expect(asked.headers.get("x-num")).toBeNull();
    for (const garbage of ["not json", "[1]", "null"]) {
      const res = await fetch(n.url, { headers: { "x-backend-response-headers": garbage } });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
  });

  it("slows every slowEvery-th request by slowMs", async () => {
    const n = await node({ behaviour: { slowEvery: 2, slowMs: 100 } });
    const applied: (string | null)[] = [];
    for (let i = 0; i < 4; i += 1) {
      const { res, ms } = await timed(n.url);
      applied.push(res.headers.get("x-backend-delay-ms"));
      if (i % 2 === 1) expect(ms).toBeGreaterThanOrEqual(95);
    }
    expect(applied).toEqual(["0", "100", "0", "100"]);
  });

  it("resetStats keeps in-flight handshakes counted", async () => {
    const n = await node({ behaviour: { mode: "hang" } });
    const pending = outcome(fetch(n.url));
    await waitFor(() => n.stats().inHandshake === 1);
    n.resetStats();
    expect(n.stats()).toMatchObject({
      requests: 0,
      byMethod: {},
      byRequestId: {},
      inHandshake: 1,
      peakHandshakes: 1,
      localnodesRequests: 0,
      localnodesByQuery: {},
    });
    await n.close();
    await pending;
    expect(n.stats().inHandshake).toBe(0);
  });
});

describe("failure modes", () => {
  it("fail answers failStatus with a JSON error", async () => {
    const n = await node({ behaviour: { mode: "fail" } });
    const res = await fetch(n.url);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-node-id")).toBe("n1");
    expect(await res.json()).toMatchObject({ node: "n1", error: expect.any(String) });
    await n.setBehaviour({ failStatus: 500 });
    expect((await fetch(n.url)).status).toBe(500);
  });

  it("hang never answers; the client can give up and close still resolves", async () => {
    const n = await node({ behaviour: { mode: "hang" } });
    const abort = new AbortController();
    const first = fetch(n.url, { signal: abort.signal });
    await waitFor(() => n.stats().inHandshake === 1);
    abort.abort();
    await expect(first).rejects.toMatchObject({ name: "AbortError" });
    await waitFor(() => n.stats().inHandshake === 0);

    const second = outcome(fetch(n.url, { method: "POST", body: "pending" }));
    await waitFor(() => n.stats().inHandshake === 1);
    await n.close();
    expect(await second).toBeInstanceOf(TypeError);
    expect(n.stats()).toMatchObject({ requests: 2, inHandshake: 0, peakHandshakes: 1 });
  });

  it("refuse refuses TCP and recovers on the same port", async () => {
    const n = await node();
    expect((await fetch(n.url)).status).toBe(200);
    const port = n.port;
    await n.setBehaviour({ mode: "refuse" });
    expect(await refusal(n.url)).toMatchObject({ code: "ECONNREFUSED" });
    await n.setBehaviour({ mode: "ok" });
    expect(n.port).toBe(port);
    const res = await fetch(n.url);
    expect(res.headers.get("x-node-id")).toBe("n1");
  });

  it("can start in refuse mode with a known port", async () => {
    const n = await node({ behaviour: { mode: "refuse" } });
    expect(n.port).toBeGreaterThan(0);
    expect(await refusal(n.url)).toMatchObject({ code: "ECONNREFUSED" });
    await n.setBehaviour({ mode: "ok" });
    expect((await fetch(n.url)).status).toBe(200);
  });

  it("flap answers 503 inside the outage window only", async () => {
    const n = await node({ behaviour: { flap: { downMs: 60_000, periodMs: 60_000 } } });
    expect((await fetch(n.url)).status).toBe(503);
    await n.setBehaviour({ flap: { downMs: 0, periodMs: 60_000 } });
    expect((await fetch(n.url)).status).toBe(200);
    await n.setBehaviour({ flap: null });
    expect(n.behaviour().flap).toBeNull();
  });

  it("rejects invalid behaviour and keeps the old one", async () => {
    const n = await node();
    await expect(n.setBehaviour({ mode: "sideways" as never })).rejects.toBeInstanceOf(
      BehaviourError,
    );
    await expect(n.setBehaviour({ flap: { downMs: 2, periodMs: 1 } })).rejects.toThrow(/flap/);
    expect(n.behaviour().mode).toBe("ok");
    await expect(startNode({ id: "bad", behaviour: { delayMs: -1 } })).rejects.toThrow(/delayMs/);
  });
});

describe("lifecycle", () => {
  it("stop drops connections, start comes back on the same port", async () => {
    const n = await node();
    await fetch(n.url);
    await n.setBehaviour({ mode: "hang" });
    const hung = outcome(fetch(n.url));
    await waitFor(() => n.stats().inHandshake === 1);
    await n.stop();
    expect(await hung).toBeInstanceOf(TypeError);
    expect(await refusal(n.url)).toMatchObject({ code: "ECONNREFUSED" });
    await n.setBehaviour({ mode: "ok" });
    expect(await refusal(n.url)).toMatchObject({ code: "ECONNREFUSED" });
    await n.start();
    expect((await fetch(n.url)).status).toBe(200);
    expect(n.stats().requests).toBe(3);
  });

  it("close does not wait for idle keep-alive sockets and is idempotent", async () => {
    const n = await node();
    await (await fetch(n.url)).arrayBuffer();
    const started = performance.now();
    await n.close();
    await n.close();
    expect(performance.now() - started).toBeLessThan(2_000);
    await expect(n.start()).rejects.toThrow(/closed/);
  });

  it("names the address when the port is taken", async () => {
    const n = await node();
    const error = await startNode({ id: "n2", port: n.port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect(error).toMatchObject({ code: "EADDRINUSE", port: n.port, host: "127.0.0.1" });
    expect((error as Error).message).toContain(`127.0.0.1:${n.port}`);
  });

  it("a taken port when leaving refuse rejects setBehaviour", async () => {
    const n = await node({ behaviour: { mode: "refuse" } });
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(n.port, "127.0.0.1", resolve));
    try {
      await expect(n.setBehaviour({ mode: "ok" })).rejects.toBeInstanceOf(ListenError);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    await n.start();
    expect((await fetch(n.url)).status).toBe(200);
  });
});

describe("accounting", () => {
  it("counts requests per x-request-id", async () => {
    const n = await node();
    for (const id of ["a", "b", "a", undefined]) {
      const headers: Record<string, string> = id ? { "x-request-id": id } : {};
      await (await fetch(n.url, { headers })).arrayBuffer();
    }
    expect(n.stats()).toMatchObject({ requests: 4, byRequestId: { a: 2, b: 1 } });
    n.resetStats();
    expect(n.stats()).toMatchObject({ requests: 0, byRequestId: {}, byMethod: {} });
  });
});
