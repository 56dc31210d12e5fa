import { describe, expect, it } from "vitest";
import { type AddressPolicy, parseAllowEntry } from "../../src/balancer/address-policy.ts";
import type { ScopeLevel } from "../../src/balancer/scope.ts";
import type { ServiceConfig } from "../../src/config/schema.ts";
import { noDiscoveryCounts } from "../../src/durable/live-nodes/discovery.ts";
import {
  type DiscoveredState,
  discoveryRound,
} from "../../src/durable/live-nodes/discovery-round.ts";
import type { NodeFetcher } from "../../src/upstream/egress.ts";

const policy: AddressPolicy = {
  egress: "vpc-network",
  allow: [parseAllowEntry("10.0.0.0/8") as AddressPolicy["allow"][0]],
};

const settings = (over: Partial<NonNullable<ServiceConfig["discovery"]>> = {}) =>
  ({
    seeds: ["http://10.0.0.1:8000"],
    path: "/localnodes",
    scheme: "http",
    activeIntervalMs: 1_000,
    idleIntervalMs: 60_000,
    timeoutMs: 1_000,
    datacenters: [],
    headers: {},
    maxAnswerBytes: 1_024,
    maxNewNodes: 64,
    staleAfterMs: 300_000,
    ...over,
  }) as NonNullable<ServiceConfig["discovery"]>;

/** A fleet of fake nodes: which origins answer, and what. */
function fleet(answers: Map<string, string[] | "down">) {
  const asked: string[] = [];
  const via: NodeFetcher = async (url) => {
    const origin = new URL(url).origin;
    asked.push(origin);
    const answer = answers.get(origin);
    if (answer === undefined || answer === "down") throw new Error("connection refused");
    return new Response(JSON.stringify(answer));
  };
  return { via, asked };
}

const empty = (): DiscoveredState => ({
  discovered: {},
  confirmedAt: {},
  counters: noDiscoveryCounts(),
});
const cluster: ScopeLevel[] = [{ kind: "cluster" }];

function round(state: DiscoveredState, via: NodeFetcher, now: number, over = {}) {
  return discoveryRound(state, {
    settings: settings(over),
    levels: cluster,
    policy,
    via,
    headers: {},
    healthy: () => true,
    now,
    warn: () => {},
  });
}

describe("discoveryRound", () => {
  it("learns the cluster from every seed: the union of each datacenter's own answer, kept while one seed's datacenter is down", async () => {
    const state = empty();
    const dc1 = ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"];
    const dc2 = ["10.0.2.1", "10.0.2.2"];
    const origin = (ip: string) => `http://${ip}:8000`;
    // Each node answers the parameterless question with its own datacenter, as Alternator does.
    const nodes = new Map<string, string[] | "down">([
      ...dc1.map((ip) => [origin(ip), dc1] as [string, string[]]),
      ...dc2.map((ip) => [origin(ip), dc2] as [string, string[]]),
    ]);
    const { via } = fleet(nodes);
    const seeds = [origin(dc1[0]!), origin(dc2[0]!)];
    const all = [...dc1, ...dc2].map(origin).sort();
    for (let i = 0; i < 10; i++) {
      await round(state, via, i * 1_000, { seeds });
      expect(state.discovered.cluster?.urls).toEqual(all);
    }
    // dc1's seed and then all of dc1 go down: dc2, learnt from its seed and its nodes, stays.
    for (const ip of dc1.slice(0, 2)) nodes.set(origin(ip), "down");
    await round(state, via, 20_000, { seeds });
    expect(state.discovered.cluster?.urls).toEqual(all);
    for (const ip of dc1) nodes.set(origin(ip), "down");
    nodes.set(origin(dc2[0]!), "down");
    await round(state, via, 21_000, { seeds });
    expect(state.discovered.cluster?.urls).toEqual(dc2.map(origin));
  });

  it("sends discovery credentials only to seeds and over https (finding 6 of #24)", async () => {
    const carried: Record<string, boolean> = {};
    const answers: Record<string, string[]> = {
      "http://10.0.0.1:8000": ["10.0.0.2", "10.0.0.3"],
      "http://10.0.0.2:8000": ["10.0.0.2", "10.0.0.3"],
      "http://10.0.0.3:8000": ["10.0.0.2", "10.0.0.3"],
    };
    const via: NodeFetcher = async (url, init) => {
      const origin = new URL(url).origin;
      carried[origin] = new Headers(init?.headers).has("authorization");
      return new Response(JSON.stringify(answers[origin] ?? []));
    };
    const state = empty();
    const ask = (now: number) =>
      discoveryRound(state, {
        settings: settings(),
        levels: cluster,
        policy,
        via,
        headers: { authorization: "Bearer discovery-secret" },
        healthy: () => true,
        now,
        warn: () => {},
      });
    await ask(0);
    expect(carried["http://10.0.0.1:8000"]).toBe(true);
    // Later rounds ask the discovered nodes first: over plain http they get no credentials.
    await ask(1_000);
    const discovered = Object.keys(carried).filter((o) => o !== "http://10.0.0.1:8000");
    expect(discovered.length).toBeGreaterThan(0);
    for (const origin of discovered) expect(carried[origin], origin).toBe(false);
  });

  it("ages out nodes no answer has confirmed within staleAfterMs, on a fake clock", async () => {
    const state = empty();
    const nodes = new Map<string, string[] | "down">([
      ["http://10.0.0.1:8000", ["10.0.0.1", "10.0.0.2"]],
    ]);
    const { via } = fleet(nodes);
    await round(state, via, 0);
    expect(state.discovered.cluster?.urls).toHaveLength(2);
    nodes.set("http://10.0.0.1:8000", "down");
    nodes.set("http://10.0.0.2:8000", "down");
    // Unreachable discovery keeps the last list until it is stale ...
    await round(state, via, 299_000);
    expect(state.discovered.cluster?.urls).toHaveLength(2);
    // ... and then lets it go, counted.
    const result = await round(state, via, 301_000);
    expect(result.moved).toBe(true);
    expect(state.discovered.cluster?.urls).toEqual([]);
    expect(state.counters.expired).toBe(2);
    expect(state.confirmedAt).toEqual({});
  });

  it("asks every node it learnt recently, even one no longer in a list, before the seeds", async () => {
    const state = empty();
    const nodes = new Map<string, string[] | "down">([
      ["http://10.0.0.1:8000", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]],
    ]);
    const { via, asked } = fleet(nodes);
    await round(state, via, 0);
    // The seed's own answer then drops 10.0.0.3 (it left), and the seed goes down.
    nodes.set("http://10.0.0.1:8000", "down");
    nodes.set("http://10.0.0.2:8000", "down");
    nodes.set("http://10.0.0.3:8000", ["10.0.0.3"]);
    asked.length = 0;
    await round(state, via, 1_000);
    expect(asked).toContain("http://10.0.0.3:8000");
    expect(state.discovered.cluster?.urls).toEqual(["http://10.0.0.3:8000"]);
  });

  it("holds back an answer that would add more than maxNewNodes at once, and counts it", async () => {
    const state = empty();
    const nodes = new Map<string, string[] | "down">([["http://10.0.0.1:8000", ["10.0.0.1"]]]);
    const { via } = fleet(nodes);
    await round(state, via, 0, { maxNewNodes: 2 });
    const flood = Array.from({ length: 5 }, (_, i) => `10.9.0.${i + 1}`);
    nodes.set("http://10.0.0.1:8000", ["10.0.0.1", ...flood]);
    await round(state, via, 1_000, { maxNewNodes: 2 });
    expect(state.discovered.cluster?.urls).toEqual(["http://10.0.0.1:8000"]);
    expect(state.counters.heldBack).toBe(1);
    expect(state.counters.lastFailure).toMatch(/5 new nodes/);
    // Growth within the cap applies.
    nodes.set("http://10.0.0.1:8000", ["10.0.0.1", "10.9.0.1", "10.9.0.2"]);
    await round(state, via, 2_000, { maxNewNodes: 2 });
    expect(state.discovered.cluster?.urls).toHaveLength(3);
  });

  it("rejects an answer longer than maxAnswerBytes without reading it whole", async () => {
    const state = empty();
    let pulled = 0;
    const via: NodeFetcher = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled++;
            controller.enqueue(new TextEncoder().encode(`"${"x".repeat(500)}",`));
            if (pulled > 1_000) controller.close();
          },
        }),
      );
    await round(state, via, 0);
    expect(state.counters.failures).toBe(1);
    expect(state.counters.lastFailure).toMatch(/longer than 1024 bytes/);
    expect(pulled).toBeLessThan(10);
  });

  it("drops refused entries, counts them, and applies the rest", async () => {
    const state = empty();
    const nodes = new Map<string, string[] | "down">([
      ["http://10.0.0.1:8000", ["10.0.0.1", "169.254.169.254", "0x0a000002", "192.168.1.1"]],
    ]);
    await round(state, fleet(nodes).via, 0);
    expect(state.discovered.cluster?.urls).toEqual(["http://10.0.0.1:8000"]);
    expect(state.counters.refusedEntries).toBe(3);
  });
});
