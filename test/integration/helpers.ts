import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import type { Counters } from "../../src/dispatch/counters.ts";
import worker from "../../src/index.ts";

/** A reference node in the test fleet. */
export interface TestNode {
  readonly id: string;
  readonly url: string;
}

/** What a reference node counted. */
export interface NodeStats {
  requests: number;
  byRequestId: Record<string, number>;
  byMethod: Record<string, number>;
  inHandshake: number;
  peakHandshakes: number;
  /** Requests whose client went away before the answer's headers. */
  abandoned: number;
  /** TCP connections open now (idle keep-alive and discovery ones included), and the most at once. */
  connections: number;
  peakConnections: number;
  /** Function invocations executed over the node's stream. */
  invocations: number;
  /** Executions per invocation body. */
  invocationsByBody: Record<string, number>;
}

async function control(path: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(`${inject("fleetUrl")}${path}`, init);
  if (!response.ok) throw new Error(`fleet ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** Starts a fresh reference node on loopback. */
export async function addNode(body: Record<string, unknown> = {}): Promise<TestNode> {
  const response = await control("/nodes", { method: "POST", body: JSON.stringify(body) });
  return (await response.json()) as TestNode;
}

/** Starts `count` fresh reference nodes. */
export function addNodes(count: number, body: Record<string, unknown> = {}): Promise<TestNode[]> {
  return Promise.all(Array.from({ length: count }, () => addNode(body)));
}

/** Changes how a node behaves (mode ok | fail | hang | refuse, delayMs, failStatus, …). */
export async function setBehaviour(node: TestNode, patch: Record<string, unknown>): Promise<void> {
  await control(`/nodes/${node.id}/behaviour`, { method: "POST", body: JSON.stringify(patch) });
}

export async function nodeStats(node: TestNode): Promise<NodeStats> {
  return (await (await control(`/nodes/${node.id}/stats`)).json()) as NodeStats;
}

/** The test environment's ADMIN_TOKEN as a request header (vitest.config.ts sets it). */
export const ADMIN = { authorization: "Bearer test-admin-token-0123456789abcdef" };

let services = 0;

/** A service name no other test uses, so Durable Object state never leaks between tests. */
export function serviceName(prefix = "svc"): string {
  services++;
  return `${prefix}-${services}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The config with loopback allowed for every service that has no `allow` of its own: the test
 * fleet lives on 127.0.0.0/8, which the address policy refuses unless a service lists it. Tests
 * read which node answered from `x-roundhouse-node`, so services get `provenance: "headers"`
 * unless they name their own (the default, `"none"`, has tests of its own in proxy.test.ts).
 */
export function onLoopback<T>(config: T): T {
  const services = (config as { services?: Record<string, unknown>[] }).services;
  if (!Array.isArray(services)) return config;
  return {
    // A line per request would bury a failing test's output; tests of the lines set their own.
    logging: { level: "warn" },
    ...config,
    services: services.map((s) => ({
      provenance: "headers",
      ...s,
      ...("allow" in s ? {} : { allow: ["127.0.0.0/8"] }),
    })),
  };
}

/** A gateway running the real worker with `config` as its ROUNDHOUSE_CONFIG. */
export function gateway(
  config: unknown,
  overrides: Partial<Env> = {},
  origin = "http://gateway.test",
) {
  const raw = typeof config === "string" ? config : JSON.stringify(onLoopback(config));
  return async (path: string, init?: RequestInit): Promise<Response> => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`${origin}${path}`, init),
      { ...env, ...overrides, ROUNDHOUSE_CONFIG: raw },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return response;
  };
}

/** A one-service gateway over the given nodes. */
export function serviceGateway(
  nodes: TestNode[],
  overrides: Record<string, unknown> = {},
  envOverrides: Partial<Env> = {},
) {
  const name = serviceName();
  const fetchVia = gateway(
    { services: [{ name, nodes: nodes.map((n) => ({ id: n.id, url: n.url })), ...overrides }] },
    envOverrides,
  );
  return {
    name,
    fetch: (path: string, init?: RequestInit) => fetchVia(`/s/${name}${path}`, init),
    /** This isolate's round-trip counters for the service (`/_gw/stats`). */
    stats: async () =>
      (await (await fetchVia("/_gw/stats", { headers: ADMIN })).json()) as Counters,
  };
}

/**
 * The two ways an attempt can go, as service settings for `describe.each`: from the isolate on a
 * leased slot (the default), and through the node's gate (leasing off), which also buffers small
 * bodies. A behaviour of the proxy must hold on both.
 */
export const ATTEMPT_PATHS: [string, Record<string, unknown>][] = [
  ["on leased slots", {}],
  ["through the gate", { gate: { lease: false } }],
];

/** Polls `check` until it returns a truthy value or the deadline passes; never a fixed sleep. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 4_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `condition not met within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ""}`,
  );
}

/** Makes a node's function stream misbehave (see StreamFaults in nodes/typescript/src/hooks.ts). */
export async function setStreamFaults(
  node: TestNode,
  faults: Record<string, unknown>,
): Promise<void> {
  await control(`/nodes/${node.id}/stream-faults`, {
    method: "POST",
    body: JSON.stringify(faults),
  });
}
