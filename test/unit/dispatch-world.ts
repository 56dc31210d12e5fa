import type { LeaseAnswer } from "../../src/balancer/lease-slots.ts";
import { parseConfig, type ResolvedService } from "../../src/config/load.ts";
import type { AttemptKind, Decision } from "../../src/dispatch/attempt-loop.ts";
import type { DispatchDeps } from "../../src/dispatch/deps.ts";
import { ServiceRuntime } from "../../src/dispatch/service-runtime.ts";
import type { ForwardOptions, LeaseRequest } from "../../src/durable/gate/node-gate.ts";
import type { ForwardResult } from "../../src/upstream/attempt-result.ts";

// A world for the attempt loop in plain Node: a fake clock, sleeps that only record and advance
// it, Durable Objects and nodes as fakes.

export function service(extra: Record<string, unknown> = {}): ResolvedService {
  const loaded = parseConfig({
    services: [
      {
        name: "svc",
        nodes: ["a", "b", "c"].map((id) => ({ id, url: `http://${id}.test` })),
        slowStartMs: 0,
        ...extra,
      },
    ],
  });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.services.get("svc") as ResolvedService;
}

export interface FakeWorld {
  deps: DispatchDeps;
  clock: { now: number };
  sleeps: number[];
  gateCalls: { forward: ForwardOptions[]; lease: LeaseRequest[] };
}

export function world(
  svc: ResolvedService,
  gate: Partial<Record<"forward" | "lease", unknown>> = {},
): FakeWorld {
  const clock = { now: 1_000_000 };
  const sleeps: number[] = [];
  const gateCalls = { forward: [] as ForwardOptions[], lease: [] as LeaseRequest[] };
  let generation = 0;
  const stub = {
    forward: async (_request: unknown, options: ForwardOptions): Promise<ForwardResult> => {
      gateCalls.forward.push(options);
      if (typeof gate.forward === "function") return gate.forward(options);
      return {
        kind: "response",
        delivery: "buffered",
        buffered: {
          status: 200,
          statusText: "OK",
          headers: [["x-from", "gate"]],
          body: new ArrayBuffer(0),
        },
      };
    },
    lease: async (request: LeaseRequest): Promise<LeaseAnswer> => {
      gateCalls.lease.push(request);
      if (typeof gate.lease === "function") return gate.lease(request);
      return { slots: 4, ttlMs: request.ttlMs, generation: ++generation };
    },
  };
  const env = {
    NODE_GATE: { idFromName: (name: string) => ({ name }), get: () => stub },
  } as unknown as Env;
  const deps: DispatchDeps = {
    env,
    runtime: new ServiceRuntime(svc),
    objects: {
      lease: async (size) => ({ start: 0, size, ejected: [] }),
      view: async () => ({ version: 1 }),
    },
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
    random: () => 0.5,
    leaseContext: {
      totalNodes: 3,
      now: () => clock.now,
      background: () => {},
      call: (_node, request) => stub.lease(request),
    },
  };
  return { deps, clock, sleeps, gateCalls };
}

/** An attempt kind whose results come from a script: node id → what happens there. */
export function scripted(
  svc: ResolvedService,
  script: Record<string, Step>,
  clock: { now: number },
) {
  const tried: string[] = [];
  const discarded: string[] = [];
  const kind: AttemptKind<{ node: string } & Step> = {
    deadlineMs: svc.retry.deadlineMs,
    retry: svc.retry,
    run: (node) => {
      tried.push(node.id);
      const step = script[node.id] ?? {};
      clock.now += step.takesMs ?? 1;
      return Promise.resolve({ node: node.id, ...step });
    },
    judge: (r) => ({
      decision: decisionOf(r.answer ?? true, r.retryable ?? false),
      counted: r.counted ?? true,
      measured: true,
      ejectedUntil: r.ejectedUntil,
      outcome: (r.answer ?? true) ? "response" : "network_error",
    }),
    discard: async (r) => {
      discarded.push(r.node);
    },
    answer: (r, nodeId, attempts) => Response.json({ answer: r.node, nodeId, attempts }),
    fail: (end) =>
      Response.json(
        {
          fail: end.stop,
          attempts: end.attempts,
          tried: end.attempted,
          pastDeadline: end.pastDeadline,
        },
        { status: 503 },
      ),
  };
  return { kind, tried, discarded };
}

export const failing = { retryable: true, answer: false };

/** How a scripted attempt ends: an answer or not, another node allowed or not, and its time. */
export interface Step {
  readonly answer?: boolean;
  readonly retryable?: boolean;
  readonly counted?: boolean;
  readonly ejectedUntil?: number;
  readonly takesMs?: number;
}

/** The loop's decision for an attempt that did or did not answer, and may or may not go on. */
export function decisionOf(answer: boolean, retryable: boolean): Decision {
  if (answer) return retryable ? "fallback" : "final";
  return retryable ? "retry" : "stop";
}
