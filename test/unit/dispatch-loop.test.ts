import { afterEach, describe, expect, it, vi } from "vitest";
import { type Dispatched, runAttempts } from "../../src/dispatch/attempt-loop.ts";
import { dispatch } from "../../src/dispatch/http-attempt.ts";
import type { LeaseRequest } from "../../src/durable/gate/node-gate.ts";
import { failing, scripted, service, world } from "./dispatch-world.ts";

/** The answer a dispatch gave, without who gave it. */
const answerOf = async (pending: Promise<Dispatched>): Promise<Response> =>
  (await pending).response;

// The one attempt loop, driven in plain Node (see dispatch-world.ts).

describe("runAttempts", () => {
  it("moves to an untried node after each retryable failure, backing off between attempts", async () => {
    const svc = service({ retry: { backoffBaseMs: 10, backoffMaxMs: 100 } });
    const { deps, clock, sleeps } = world(svc);
    const { kind, tried } = scripted(svc, { a: failing, b: failing }, clock);
    const body = await (await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps))).json();
    expect(tried).toEqual(["a", "b", "c"]);
    expect(body).toEqual({ answer: "c", nodeId: "c", attempts: 3 });
    // Full jitter at 0.5 of 10 ms, then of 20 ms.
    expect(sleeps).toEqual([5, 10]);
  });

  it("stops at maxAttempts while nodes remain, and says so", async () => {
    const svc = service({ retry: { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 1 } });
    const { deps, clock } = world(svc);
    const { kind, tried } = scripted(svc, { a: failing, b: failing, c: failing }, clock);
    const response = await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps));
    expect(tried).toEqual(["a", "b"]);
    expect(await response.json()).toMatchObject({ fail: "attempts", attempts: 2 });
  });

  it("counts no attempt that never left, and does not back off after one", async () => {
    const svc = service({ retry: { maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 10 } });
    const { deps, clock, sleeps } = world(svc);
    const notSent = { counted: false, retryable: true, answer: false };
    const { kind, tried } = scripted(svc, { a: notSent, b: notSent }, clock);
    expect(await (await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps))).json()).toEqual({
      answer: "c",
      nodeId: "c",
      attempts: 1,
    });
    expect(tried).toEqual(["a", "b", "c"]);
    expect(sleeps).toEqual([]);
  });

  it("lets go of a retryable answer when another node is tried, and keeps the last one", async () => {
    const svc = service({ retry: { backoffBaseMs: 1, backoffMaxMs: 1 } });
    const { deps, clock } = world(svc);
    const retryableAnswer = { retryable: true, answer: true };
    const { kind, discarded } = scripted(
      svc,
      { a: retryableAnswer, b: retryableAnswer, c: retryableAnswer },
      clock,
    );
    expect(
      await (await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps))).json(),
    ).toMatchObject({
      answer: "c",
      attempts: 3,
    });
    expect(discarded).toEqual(["a", "b"]);
  });

  it("ends at the deadline with what it tried", async () => {
    const svc = service({ retry: { deadlineMs: 100, backoffBaseMs: 0, backoffMaxMs: 0 } });
    const { deps, clock } = world(svc);
    const { kind, tried } = scripted(svc, { a: { ...failing, takesMs: 150 } }, clock);
    const body = await (await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps))).json();
    expect(tried).toEqual(["a"]);
    expect(body).toMatchObject({ fail: "deadline", pastDeadline: true, tried: ["a"] });
  });

  it("stops when an attempt cannot start, and routes around a node an attempt got ejected", async () => {
    const svc = service({ retry: { backoffBaseMs: 0, backoffMaxMs: 0 } });
    const { deps, clock } = world(svc);
    const until = clock.now + 60_000;
    const { kind } = scripted(svc, { a: { ...failing, ejectedUntil: until }, b: failing }, clock);
    const run = kind.run;
    kind.run = (node, remaining, panic, cancel) =>
      node.id === "c" ? undefined : run(node, remaining, panic, cancel);
    const body = await (await answerOf(runAttempts(kind, [{ kind: "cluster" }], deps))).json();
    expect(body).toMatchObject({ fail: "not-retryable", tried: ["a"] });
    expect(deps.runtime.route([{ kind: "cluster" }], clock.now).schedule).not.toContain("a");
  });
});

describe("dispatch of a proxied request", () => {
  afterEach(() => vi.unstubAllGlobals());

  const request = (method = "GET") => ({
    method,
    pathAndQuery: "/x?y=1",
    headers: new Headers(),
    body: { take: () => null, replayable: true },
    requestId: "req-1",
    traits: { method, hasIdempotencyKey: false, replayable: true },
    chain: [{ kind: "cluster" as const }],
  });

  it("fetches the node itself on a leased slot, with no gate call after the first lease", async () => {
    const svc = service();
    const { deps, gateCalls } = world(svc);
    const urls: string[] = [];
    vi.stubGlobal("fetch", async (url: string) => {
      urls.push(url);
      return new Response("hi", { headers: { connection: "close", "x-node": "1" } });
    });
    const before = deps.runtime.counters.directAttempts;
    for (let i = 0; i < 6; i++) {
      const { response, attempts } = await dispatch(request(), deps);
      expect(response.status).toBe(200);
      expect(attempts).toBe(1);
      // Passed on as fetched: the connection-level header is the runtime's to drop on the wire
      // (test/isolates/answer-headers.test.ts), and nothing else needed cleaning.
      expect(response.headers.get("connection")).toBe("close");
      expect(await response.text()).toBe("hi");
    }
    expect(deps.runtime.counters.directAttempts - before).toBe(6);
    expect(gateCalls.forward).toEqual([]);
    // One first lease per node; rotation visits a, b, c, a, b, c.
    expect(gateCalls.lease.map((r) => r.nodeId)).toEqual(["a", "b", "c"]);
    expect(urls).toEqual(["a", "b", "c", "a", "b", "c"].map((id) => `http://${id}.test/x?y=1`));
  });

  it("reports a failure on a leased slot at once and takes the ejection it answers", async () => {
    const svc = service({ retry: { backoffBaseMs: 0, backoffMaxMs: 0 } });
    let generation = 0;
    const { deps, gateCalls, clock } = world(svc, {
      lease: (r: LeaseRequest) =>
        r.failure
          ? { slots: 0, ttlMs: r.ttlMs, generation: ++generation, ejectedUntil: clock.now + 30_000 }
          : { slots: 4, ttlMs: r.ttlMs, generation: ++generation },
    });
    vi.stubGlobal("fetch", async (url: string) =>
      url.startsWith("http://a.test") ? new Response("down", { status: 503 }) : new Response("up"),
    );
    const { response, attempts } = await dispatch(request(), deps);
    expect(await response.text()).toBe("up");
    expect(attempts).toBe(2);
    expect(gateCalls.lease.filter((r) => r.failure).map((r) => r.nodeId)).toEqual(["a"]);
    expect(deps.runtime.route([{ kind: "cluster" }], clock.now).schedule).not.toContain("a");
  });

  it("sends every attempt through the gate when leasing is off", async () => {
    const svc = service({ gate: { lease: false } });
    const { deps, gateCalls } = world(svc);
    vi.stubGlobal("fetch", async () => {
      throw new Error("the isolate must not fetch");
    });
    const response = await answerOf(dispatch(request(), deps));
    expect(response.headers.get("x-from")).toBe("gate");
    expect(gateCalls.forward).toHaveLength(1);
    expect(gateCalls.lease).toEqual([]);
  });

  it("goes through the gate when the gate leases nothing", async () => {
    const svc = service();
    const { deps, gateCalls } = world(svc, {
      lease: (r: LeaseRequest) => ({ slots: 0, ttlMs: r.ttlMs, generation: 1 }),
    });
    vi.stubGlobal("fetch", async () => {
      throw new Error("the isolate must not fetch");
    });
    expect((await answerOf(dispatch(request(), deps))).status).toBe(200);
    expect(gateCalls.lease).toHaveLength(1);
    expect(gateCalls.forward).toHaveLength(1);
  });
});
