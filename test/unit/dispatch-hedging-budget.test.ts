import { afterEach, describe, expect, it, vi } from "vitest";
import { type AttemptKind, runAttempts } from "../../src/dispatch/attempt-loop.ts";
import { counters } from "../../src/dispatch/counters.ts";
import { dispatch } from "../../src/dispatch/http-attempt.ts";
import { service, world } from "./dispatch-world.ts";

// Hedging and the retry budget in the one attempt loop, in plain Node: the fake world's sleeps
// return at once, so a hedge's delay has always passed by the time the loop looks again.

const cluster = [{ kind: "cluster" as const }];

const request = (method = "GET", hasIdempotencyKey = false) => ({
  method,
  pathAndQuery: "/x",
  headers: [] as [string, string][],
  body: { take: () => null, replayable: true },
  requestId: "req-1",
  traits: { method, hasIdempotencyKey, replayable: true },
  chain: cluster,
});

/** A fetch stub: node a holds its answer until aborted (or, with `hangMs`, for that long). */
function slowA(hangMs?: number) {
  const aborted: string[] = [];
  const fetched: string[] = [];
  vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
    const node = new URL(url).hostname.split(".")[0] as string;
    fetched.push(node);
    if (node !== "a") return Promise.resolve(new Response(`from ${node}`));
    return new Promise<Response>((resolve, reject) => {
      init.signal?.addEventListener("abort", () => {
        aborted.push(node);
        reject(new Error("aborted"));
      });
      if (hangMs !== undefined) setTimeout(() => resolve(new Response("from a")), hangMs);
    });
  });
  return { aborted, fetched };
}

describe("hedging", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("sends a slow safe request to a second node, takes the first answer and cancels the other", async () => {
    // Two attempts at most: the fake sleeps return at once, so a third would follow at once too.
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 20 } } });
    const { deps, gateCalls } = world(svc);
    const { aborted, fetched } = slowA();
    const hedgesBefore = counters.hedges;
    const response = await dispatch(request(), deps);
    expect(await response.text()).toBe("from b");
    expect(response.headers.get("x-roundhouse-attempts")).toBe("2");
    expect(fetched).toEqual(["a", "b"]);
    await vi.waitFor(() => expect(aborted).toEqual(["a"]));
    expect(counters.hedges - hedgesBefore).toBe(1);
    // The cancelled loser is no failure of its node's.
    expect(gateCalls.lease.filter((r) => r.failure)).toEqual([]);
  });

  it("never hedges a request that is not safe to repeat", async () => {
    const svc = service({ retry: { hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const { fetched } = slowA(5);
    const response = await dispatch(request("POST"), deps);
    expect(await response.text()).toBe("from a");
    expect(fetched).toEqual(["a"]);
  });

  it("hedges a POST that carries an Idempotency-Key", async () => {
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const { fetched } = slowA();
    expect(await (await dispatch(request("POST", true), deps)).text()).toBe("from b");
    expect(fetched).toEqual(["a", "b"]);
  });

  it("never sends more than maxAttempts copies", async () => {
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const started: string[] = [];
    const never = new Promise<never>(() => {});
    const kind = hangingKind(svc, started, () => never);
    const outcome = Promise.race([
      runAttempts(kind, cluster, deps),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 20)),
    ]);
    expect(await outcome).toBe("still waiting");
    expect(started).toEqual(["a", "b"]);
  });

  it("lets the budget refuse a hedge, and the first attempt then answers alone", async () => {
    const svc = service({
      retry: { hedge: { afterMs: 1 }, budget: { percent: 0, minRetries: 0 } },
    });
    const { deps } = world(svc);
    const { fetched } = slowA(5);
    const refusedBefore = counters.retriesRefused;
    expect(await (await dispatch(request(), deps)).text()).toBe("from a");
    expect(fetched).toEqual(["a"]);
    expect(counters.retriesRefused - refusedBefore).toBe(1);
  });

  it("keeps waiting for the slow attempt when the hedge fails first", async () => {
    const svc = service({ retry: { hedge: { afterMs: 1 }, backoffBaseMs: 0, backoffMaxMs: 0 } });
    const { deps } = world(svc);
    vi.stubGlobal("fetch", (url: string) =>
      url.startsWith("http://a.")
        ? new Promise<Response>((resolve) => setTimeout(() => resolve(new Response("slow a")), 5))
        : Promise.resolve(new Response("busy", { status: 503 })),
    );
    const response = await dispatch(request(), deps);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("slow a");
  });
});

describe("retry budget in the attempt loop", () => {
  it("lets only the budget's retries start while many requests fail at once", async () => {
    const svc = service({
      retry: { backoffBaseMs: 0, backoffMaxMs: 0, budget: { percent: 0, minRetries: 2 } },
    });
    const { deps } = world(svc);
    const started: string[] = [];
    let releaseRetries: () => void = () => {};
    const retriesHeld = new Promise<void>((resolve) => {
      releaseRetries = resolve;
    });
    // Every first attempt fails at once; every retry waits until released, then answers.
    let calls = 0;
    const kind = hangingKind(svc, started, () => {
      calls++;
      return calls <= 5
        ? Promise.resolve({ node: "first", ok: false })
        : retriesHeld.then(() => ({ node: "retry", ok: true }));
    });
    const refusedBefore = counters.retriesRefused;
    const dispatches = Array.from({ length: 5 }, () => runAttempts(kind, cluster, deps));
    await vi.waitFor(() => expect(calls).toBe(7));
    releaseRetries();
    const bodies = await Promise.all(
      dispatches.map(async (r) => (await (await r).json()) as { answer?: string; fail?: string }),
    );
    expect(bodies.filter((b) => b.answer === "retry")).toHaveLength(2);
    expect(bodies.filter((b) => b.fail === "budget")).toHaveLength(3);
    expect(counters.retriesRefused - refusedBefore).toBe(3);
    expect(deps.runtime.retryBudget.inFlight).toEqual({ requests: 0, retries: 0 });
  });
});

/** An attempt kind whose attempts resolve as `outcome` says; `ok: false` is a retryable failure. */
function hangingKind(
  svc: ReturnType<typeof service>,
  started: string[],
  outcome: () => Promise<{ node: string; ok: boolean }>,
): AttemptKind<{ node: string; ok: boolean }> {
  return {
    deadlineMs: svc.retry.deadlineMs,
    retry: svc.retry,
    hedgeAfterMs: () => svc.retry.hedge?.afterMs,
    run: (node) => {
      started.push(node.id);
      return outcome();
    },
    judge: (r) => ({
      counted: true,
      retryable: !r.ok,
      answer: r.ok,
      measured: true,
      outcome: r.ok ? "response" : "network_error",
    }),
    discard: async () => {},
    answer: (r) => Response.json({ answer: r.node }),
    fail: (end) => Response.json({ fail: end.stop }, { status: 503 }),
  };
}
