import { afterEach, describe, expect, it, vi } from "vitest";
import { type AttemptKind, type Dispatched, runAttempts } from "../../src/dispatch/attempt-loop.ts";
import { dispatch } from "../../src/dispatch/http-attempt.ts";
import { service, world } from "./dispatch-world.ts";

/** The answer a dispatch gave, without who gave it. */
const answerOf = async (pending: Promise<Dispatched>): Promise<Response> =>
  (await pending).response;

// Hedging and the retry budget in the one attempt loop, in plain Node: the fake world's sleeps
// return at once, so a hedge's delay has always passed by the time the loop looks again.

const cluster = [{ kind: "cluster" as const }];

const request = (method = "GET", hasIdempotencyKey = false) => ({
  method,
  pathAndQuery: "/x",
  headers: new Headers(),
  body: { take: () => null, replayable: true },
  requestId: "req-1",
  traits: { method, hasIdempotencyKey, replayable: true },
  chain: cluster,
});

/**
 * A fetch stub: node a holds its answer until aborted or until the test calls `release`; the
 * other nodes answer at once.
 */
function slowA() {
  const aborted: string[] = [];
  const fetched: string[] = [];
  let release: () => void = () => {};
  vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
    const node = new URL(url).hostname.split(".")[0] as string;
    fetched.push(node);
    if (node !== "a") return Promise.resolve(new Response(`from ${node}`));
    return new Promise<Response>((resolve, reject) => {
      init.signal?.addEventListener("abort", () => {
        aborted.push(node);
        reject(new Error("aborted"));
      });
      release = () => resolve(new Response("from a"));
    });
  });
  return { aborted, fetched, release: () => release() };
}

/** Lets every pending promise callback run (the fake world's sleeps and calls are all promises). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

describe("hedging", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("sends a slow safe request to a second node, takes the first answer and cancels the other", async () => {
    // Two attempts at most: the fake sleeps return at once, so a third would follow at once too.
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 20 } } });
    const { deps, gateCalls } = world(svc);
    const { aborted, fetched } = slowA();
    const hedgesBefore = deps.runtime.counters.hedges;
    const { response, node, attempts } = await dispatch(request(), deps);
    expect(await response.text()).toBe("from b");
    expect([node, attempts]).toEqual(["b", 2]);
    expect(fetched).toEqual(["a", "b"]);
    await vi.waitFor(() => expect(aborted).toEqual(["a"]));
    expect(deps.runtime.counters.hedges - hedgesBefore).toBe(1);
    // The cancelled loser is no failure of its node's.
    expect(gateCalls.lease.filter((r) => r.failure)).toEqual([]);
  });

  it("never hedges a request that is not safe to repeat", async () => {
    const svc = service({ retry: { hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const { fetched, release } = slowA();
    const pending = answerOf(dispatch(request("POST"), deps));
    await vi.waitFor(() => expect(fetched).toEqual(["a"]));
    // Every hedge delay has passed for the fake clock; still no second copy.
    await settle();
    expect(fetched).toEqual(["a"]);
    release();
    expect(await (await pending).text()).toBe("from a");
  });

  it("hedges a POST that carries an Idempotency-Key", async () => {
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const { fetched } = slowA();
    expect(await (await answerOf(dispatch(request("POST", true), deps))).text()).toBe("from b");
    expect(fetched).toEqual(["a", "b"]);
  });

  it("never sends more than maxAttempts copies", async () => {
    const svc = service({ retry: { maxAttempts: 2, hedge: { afterMs: 1 } } });
    const { deps } = world(svc);
    const started: string[] = [];
    let answerSecond: () => void = () => {};
    const kind = hangingKind(svc, started, () =>
      started.length === 1
        ? new Promise<never>(() => {})
        : new Promise((resolve) => {
            answerSecond = () => resolve({ node: "second", ok: true });
          }),
    );
    const pending = answerOf(runAttempts(kind, cluster, deps));
    await vi.waitFor(() => expect(started).toEqual(["a", "b"]));
    // Both copies are out and every hedge delay has passed: the cap holds, no third is sent.
    await settle();
    expect(started).toEqual(["a", "b"]);
    answerSecond();
    expect(await (await pending).json()).toEqual({ answer: "second" });
  });

  it("lets the budget refuse a hedge, and the first attempt then answers alone", async () => {
    const svc = service({
      retry: { hedge: { afterMs: 1 }, budget: { percent: 0, minRetries: 0 } },
    });
    const { deps } = world(svc);
    const { fetched, release } = slowA();
    const refusedBefore = deps.runtime.counters.retriesRefused;
    const pending = answerOf(dispatch(request(), deps));
    await vi.waitFor(() => expect(deps.runtime.counters.retriesRefused - refusedBefore).toBe(1));
    release();
    expect(await (await pending).text()).toBe("from a");
    expect(fetched).toEqual(["a"]);
  });

  it("keeps waiting for the slow attempt when the hedge fails first", async () => {
    const svc = service({
      retry: { maxAttempts: 2, hedge: { afterMs: 1 }, backoffBaseMs: 0, backoffMaxMs: 0 },
    });
    const { deps } = world(svc);
    let answerA: () => void = () => {};
    const fetched: string[] = [];
    vi.stubGlobal("fetch", (url: string) => {
      fetched.push(url);
      return url.startsWith("http://a.")
        ? new Promise<Response>((resolve) => {
            answerA = () => resolve(new Response("slow a"));
          })
        : Promise.resolve(new Response("busy", { status: 503 }));
    });
    const pending = answerOf(dispatch(request(), deps));
    await vi.waitFor(() => expect(fetched).toHaveLength(2));
    await settle();
    answerA();
    const response = await pending;
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
    const refusedBefore = deps.runtime.counters.retriesRefused;
    const dispatches = Array.from({ length: 5 }, () => answerOf(runAttempts(kind, cluster, deps)));
    await vi.waitFor(() => expect(calls).toBe(7));
    releaseRetries();
    const bodies = await Promise.all(
      dispatches.map(async (r) => (await (await r).json()) as { answer?: string; fail?: string }),
    );
    expect(bodies.filter((b) => b.answer === "retry")).toHaveLength(2);
    expect(bodies.filter((b) => b.fail === "budget")).toHaveLength(3);
    expect(deps.runtime.counters.retriesRefused - refusedBefore).toBe(3);
    expect(deps.runtime.retryBudget.inFlight).toEqual({ requests: 0, retries: 0 });
  });
});

describe("Envoy's retry budget (`budget: {}`)", () => {
  /**
   * `count` requests at once whose first attempts all fail at once and whose retries hang until
   * released: how many retries started, and how many the budget refused.
   */
  async function burst(retry: Record<string, unknown>, count: number) {
    const svc = service({ retry: { backoffBaseMs: 0, backoffMaxMs: 0, ...retry } });
    const { deps } = world(svc);
    let releaseRetries: () => void = () => {};
    const retriesHeld = new Promise<void>((resolve) => {
      releaseRetries = resolve;
    });
    let started = 0;
    const dispatches = Array.from({ length: count }, () => {
      const tries: string[] = [];
      const kind = hangingKind(svc, tries, () => {
        if (tries.length === 1) return Promise.resolve({ node: "first", ok: false });
        started++;
        return retriesHeld.then(() => ({ node: "retry", ok: true }));
      });
      return answerOf(runAttempts(kind, cluster, deps));
    });
    // Every request has failed its first attempt and been granted or refused its retry.
    await vi.waitFor(() => expect(started + deps.runtime.counters.retriesRefused).toBe(count));
    await settle();
    releaseRetries();
    await Promise.all(dispatches);
    expect(deps.runtime.retryBudget.inFlight).toEqual({ requests: 0, retries: 0 });
    return { started, refused: deps.runtime.counters.retriesRefused };
  }

  it("holds a burst of failing requests to 20% of them, or 3 retries", async () => {
    // 10 requests in flight: 20% is 2, so the minimum of 3 rules.
    expect(await burst({ budget: {} }, 10)).toEqual({ started: 3, refused: 7 });
    // 40 in flight: 20% is 8.
    expect(await burst({ budget: {} }, 40)).toEqual({ started: 8, refused: 32 });
  });

  it("lets every retry start by default, and with budget: false", async () => {
    expect(await burst({}, 10)).toEqual({ started: 10, refused: 0 });
    expect(await burst({ budget: false }, 10)).toEqual({ started: 10, refused: 0 });
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
      decision: r.ok ? "final" : "retry",
      counted: true,
      measured: true,
      outcome: r.ok ? "response" : "network_error",
    }),
    discard: async () => {},
    answer: (r) => Response.json({ answer: r.node }),
    fail: (end) => Response.json({ fail: end.stop }, { status: 503 }),
  };
}
