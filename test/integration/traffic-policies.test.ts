import { generateSignedCookie } from "hono/cookie";
import { describe, expect, it } from "vitest";
import {
  ADMIN,
  addNodes,
  eventually,
  gateway,
  nodeStats,
  serviceGateway,
  serviceName,
  setBehaviour,
  type TestNode,
} from "./helpers.ts";

// Consistent hashing, cookie affinity, the retry budget and hedging, through the real worker and
// reference nodes on loopback.

const nodeOf = (response: Response) => response.headers.get("x-roundhouse-node");

/** The AFFINITY_SECRET the test worker is given (vitest.config.ts). */
const TEST_AFFINITY_SECRET = "test-affinity-secret-0123456789abcdef";

async function send(
  fetch: (path: string, init?: RequestInit) => Promise<Response>,
  init?: RequestInit,
) {
  const response = await fetch("/", init);
  await response.body?.cancel();
  return response;
}

describe("consistent_hash", () => {
  const hashed = (nodes: TestNode[]) =>
    serviceGateway(nodes, {
      policy: "consistent_hash",
      hash: { key: { from: "header", name: "x-user" } },
      ejection: { consecutiveFailures: 1 },
      retry: { backoffBaseMs: 0, backoffMaxMs: 0 },
    });
  const asUser = (user: string) => ({ headers: { "x-user": user } });

  it("sends every request of a key to one node, and spreads keys over the nodes", async () => {
    const svc = hashed(await addNodes(3));
    const homes = new Map<string, string | null>();
    for (let k = 0; k < 24; k++)
      homes.set(`user-${k}`, nodeOf(await send(svc.fetch, asUser(`user-${k}`))));
    for (const [user, home] of homes)
      expect(nodeOf(await send(svc.fetch, asUser(user)))).toBe(home);
    expect(new Set(homes.values()).size).toBe(3);
  });

  it("moves only the keys of an ejected node, and each to one other node", async () => {
    const nodes = await addNodes(3);
    const svc = hashed(nodes);
    const users = Array.from({ length: 24 }, (_, k) => `user-${k}`);
    const homes = new Map<string, string | null>();
    for (const user of users) homes.set(user, nodeOf(await send(svc.fetch, asUser(user))));
    const victim = nodes[0] as TestNode;
    await setBehaviour(victim, { mode: "fail" });
    // The first request that meets the failure ejects the node (one consecutive failure).
    const moved = users.filter((user) => homes.get(user) === victim.id);
    expect(moved.length).toBeGreaterThan(0);
    for (const user of users) {
      const response = await send(svc.fetch, asUser(user));
      expect(response.status).toBe(200);
      if (homes.get(user) !== victim.id) expect(nodeOf(response)).toBe(homes.get(user));
      else expect(nodeOf(response)).not.toBe(victim.id);
    }
    const before = (await nodeStats(victim)).requests;
    for (const user of moved) {
      const response = await send(svc.fetch, asUser(user));
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
    }
    expect((await nodeStats(victim)).requests).toBe(before);
  });
});

describe("cookie affinity", () => {
  const affine = (
    nodes: TestNode[],
    name = serviceName(),
    extra: { affinity?: Record<string, unknown>; hash?: Record<string, unknown> } = {},
  ) => {
    const fetch = gateway({
      services: [
        {
          name,
          nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
          ejection: { consecutiveFailures: 1 },
          retry: { backoffBaseMs: 0, backoffMaxMs: 0 },
          slowStartMs: 0,
          ...extra,
          affinity: { cookie: "rh", ttlSeconds: 600, ...extra.affinity },
        },
      ],
    });
    return {
      name,
      fetch: (path: string, init?: RequestInit) =>
        fetch(path.startsWith("/_gw/") ? path : `/s/${name}${path}`, init),
    };
  };
  const cookieOf = (response: Response) => response.headers.get("set-cookie")?.split(";")[0];

  it("sets a signed cookie naming the node, and keeps the client there", async () => {
    const svc = affine(await addNodes(3));
    const first = await send(svc.fetch);
    const setCookie = first.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^rh=/);
    expect(setCookie).toContain("Max-Age=600");
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("Secure");
    expect(setCookie).toContain("SameSite=Lax");
    const cookie = cookieOf(first) as string;
    for (let i = 0; i < 6; i++) {
      const again = await send(svc.fetch, { headers: { cookie } });
      expect(nodeOf(again)).toBe(nodeOf(first));
      expect(again.headers.get("set-cookie")).toBeNull();
    }
  });

  it("ignores a forged cookie or one of another service, and signs a real one", async () => {
    const nodes = await addNodes(3);
    const svc = affine(nodes);
    const other = affine(nodes);
    const theirs = cookieOf(await send(other.fetch)) as string;
    const forged = [
      `rh=${encodeURIComponent(`${svc.name}/${nodes[1]?.id}`)}`,
      `rh=${encodeURIComponent(`${svc.name}/${nodes[1]?.id}.AAAA`)}`,
      theirs,
    ];
    for (const cookie of forged) {
      const counts = new Map<string | null, number>();
      for (let i = 0; i < 6; i++) {
        const response = await send(svc.fetch, { headers: { cookie } });
        expect(response.status).toBe(200);
        expect(response.headers.get("set-cookie")).toMatch(/^rh=/);
        counts.set(nodeOf(response), (counts.get(nodeOf(response)) ?? 0) + 1);
      }
      // Not pinned: the rotation spreads the requests over all three nodes.
      expect(counts.size).toBe(3);
    }
  });

  /** A cookie signed as the gateway signs one, issued `ageSeconds` ago. */
  const signed = async (value: string) =>
    (await generateSignedCookie("rh", value, TEST_AFFINITY_SECRET)).split(";")[0] as string;
  const issued = (ageSeconds: number) => Math.floor(Date.now() / 1000) - ageSeconds;

  it("pins with a cookie issued within ttlSeconds, and not with an older one", async () => {
    const nodes = await addNodes(3);
    const svc = affine(nodes);
    const home = nodes[1] as TestNode;
    const fresh = await signed(`${svc.name}/${home.id}/${issued(590)}`);
    for (let i = 0; i < 6; i++) {
      const response = await send(svc.fetch, { headers: { cookie: fresh } });
      expect(nodeOf(response)).toBe(home.id);
      expect(response.headers.get("set-cookie")).toBeNull();
    }
    // Past its time, or of the earlier form that carried none, a genuine signature pins nothing.
    for (const stale of [
      await signed(`${svc.name}/${home.id}/${issued(601)}`),
      await signed(`${svc.name}/${home.id}`),
    ]) {
      const counts = new Map<string | null, number>();
      for (let i = 0; i < 6; i++) {
        const response = await send(svc.fetch, { headers: { cookie: stale } });
        expect(response.status).toBe(200);
        // Rewritten on every answer, with a new issue time, whichever node gave it.
        const renewed = cookieOf(response) as string;
        expect(renewed).toMatch(/^rh=/);
        expect(renewed).not.toBe(stale);
        counts.set(nodeOf(response), (counts.get(nodeOf(response)) ?? 0) + 1);
      }
      expect(counts.size).toBe(3);
    }
  });

  it("sends a request elsewhere while its pinned node is at its bounded load, and keeps the session", async () => {
    const nodes = await addNodes(3);
    const home = nodes[0] as TestNode;
    await setBehaviour(home, { delayMs: 400 });
    for (const [hash, spills] of [
      [{}, true],
      [{ boundedLoads: false }, false],
    ] as const) {
      const svc = affine(nodes, serviceName(), { hash });
      const cookie = await signed(`${svc.name}/${home.id}/${issued(0)}`);
      const before = (await nodeStats(home)).requests;
      const slow = send(svc.fetch, { headers: { cookie } });
      await eventually(async () => (await nodeStats(home)).requests > before);
      // One request in flight at the pinned node, none elsewhere: one more would put it past
      // 1.25 times its share of the mean.
      const second = await send(svc.fetch, { headers: { cookie } });
      expect(second.status).toBe(200);
      if (spills) expect(nodeOf(second)).not.toBe(home.id);
      else expect(nodeOf(second)).toBe(home.id);
      expect(second.headers.get("set-cookie")).toBeNull();
      expect(nodeOf(await slow)).toBe(home.id);
    }
  });

  it("binds the cookie to the client's address with bindTo", async () => {
    const nodes = await addNodes(3);
    const svc = affine(nodes, serviceName(), { affinity: { bindTo: "client-ip" } });
    const from = (ip: string, cookie?: string) => ({
      headers: { "cf-connecting-ip": ip, ...(cookie ? { cookie } : {}) },
    });
    const first = await send(svc.fetch, from("203.0.113.5"));
    const cookie = cookieOf(first) as string;
    for (let i = 0; i < 4; i++) {
      const again = await send(svc.fetch, from("203.0.113.5", cookie));
      expect(nodeOf(again)).toBe(nodeOf(first));
      expect(again.headers.get("set-cookie")).toBeNull();
    }
    const counts = new Map<string | null, number>();
    for (let i = 0; i < 6; i++) {
      const elsewhere = await send(svc.fetch, from("198.51.100.7", cookie));
      expect(elsewhere.headers.get("set-cookie")).toMatch(/^rh=/);
      counts.set(nodeOf(elsewhere), (counts.get(nodeOf(elsewhere)) ?? 0) + 1);
    }
    expect(counts.size).toBe(3);
  });

  it("moves the client when its node is ejected, rewriting the cookie", async () => {
    const nodes = await addNodes(3);
    const svc = affine(nodes);
    const first = await send(svc.fetch);
    const pinnedTo = nodes.find((n) => n.id === nodeOf(first)) as TestNode;
    await setBehaviour(pinnedTo, { mode: "fail" });
    const moved = await send(svc.fetch, { headers: { cookie: cookieOf(first) as string } });
    expect(moved.status).toBe(200);
    expect(nodeOf(moved)).not.toBe(pinnedTo.id);
    const cookie = cookieOf(moved) as string;
    expect(cookie).toMatch(/^rh=/);
    for (let i = 0; i < 4; i++) {
      const again = await send(svc.fetch, { headers: { cookie } });
      expect(nodeOf(again)).toBe(nodeOf(moved));
    }
  });

  it("moves the client when its node is drained, and back only by a new cookie", async () => {
    const nodes = await addNodes(3);
    const svc = affine(nodes);
    const first = await send(svc.fetch);
    const pinnedTo = nodeOf(first) as string;
    const drain = await svc.fetch(`/_gw/admin/services/${svc.name}/nodes/${pinnedTo}/drain`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token-0123456789abcdef" },
    });
    expect(drain.status).toBe(200);
    const moved = await send(svc.fetch, { headers: { cookie: cookieOf(first) as string } });
    expect(moved.status).toBe(200);
    expect(nodeOf(moved)).not.toBe(pinnedTo);
    const cookie = cookieOf(moved) as string;
    expect(cookie).toMatch(/^rh=/);
    for (let i = 0; i < 4; i++) {
      expect(nodeOf(await send(svc.fetch, { headers: { cookie } }))).toBe(nodeOf(moved));
    }
  });

  it("refuses to run without its signing secret, naming it", async () => {
    const nodes = await addNodes(1);
    const name = serviceName();
    const fetch = gateway({
      services: [{ name, nodes: [{ url: nodes[0]?.url }], affinity: { secret: "NO_SUCH_SECRET" } }],
    });
    const response = await fetch(`/s/${name}/`);
    expect(response.status).toBe(503);
    const problem = (await response.json()) as { type: string; detail: string };
    expect(problem.type).toContain("bad-config");
    expect(problem.detail).toContain(`services.${name}.affinity.secret`);
    // Which secret, and what to do, the admin token's holder reads at /_gw/health.
    const health = await fetch("/_gw/health", { headers: ADMIN });
    expect(JSON.stringify(await health.json())).toContain("NO_SUCH_SECRET");
  });
});

describe("retry budget", () => {
  it("answers as the attempt did when the budget has no room, and retries without one", async () => {
    const nodes = await addNodes(3);
    for (const node of nodes) await setBehaviour(node, { mode: "fail", failStatus: 503 });
    const retry = { backoffBaseMs: 0, backoffMaxMs: 0 };
    const ejection = { consecutiveFailures: 1_000 };
    const budgeted = serviceGateway(nodes, {
      retry: { ...retry, budget: { percent: 0, minRetries: 0 } },
      ejection,
    });
    const unbudgeted = serviceGateway(nodes, { retry: { ...retry, budget: false }, ejection });
    for (let i = 0; i < 3; i++) {
      const refused = await send(budgeted.fetch);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("x-roundhouse-attempts")).toBe("1");
      const retried = await send(unbudgeted.fetch);
      expect(retried.status).toBe(503);
      expect(retried.headers.get("x-roundhouse-attempts")).toBe("3");
    }
  });
});

describe("what one client request can cost upstream", () => {
  it("sends a failing, hedged POST with an Idempotency-Key to maxAttempts nodes at most", async () => {
    // The worst case: a request safe to repeat, hedged early, to more nodes than the cap, every
    // one failing slowly, so each hedge goes out while the others are still in flight.
    const nodes = await addNodes(5);
    for (const node of nodes) {
      await setBehaviour(node, { mode: "fail", failStatus: 503, delayMs: 60 });
    }
    const retry = { maxAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0, hedge: { afterMs: 5 } };
    const ejection = { consecutiveFailures: 1_000 };
    for (const budget of [{ budget: {} }, { budget: false }]) {
      const svc = serviceGateway(nodes, { retry: { ...retry, ...budget }, ejection });
      const requestId = `worst-${svc.name}`;
      const response = await send(svc.fetch, {
        method: "POST",
        body: "payload",
        headers: { "idempotency-key": "k1", "x-request-id": requestId },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("3");
      const stats = await Promise.all(nodes.map(nodeStats));
      const received = stats.map((s) => s.byRequestId[requestId] ?? 0);
      expect(received.reduce((sum, n) => sum + n, 0)).toBe(retry.maxAttempts);
      expect(Math.max(...received)).toBe(1);
      // Hedges went out beside the first attempt, and still counted toward the cap.
      expect((await svc.stats()).hedges).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("hedging", () => {
  it("sends a slow request to a second node and cancels the first", async () => {
    const nodes = await addNodes(3);
    const slow = nodes[0] as TestNode;
    await setBehaviour(slow, { delayMs: 2_000 });
    const svc = serviceGateway(nodes, { retry: { maxAttempts: 2, hedge: { afterMs: 20 } } });
    for (let i = 0; i < 6; i++) {
      const response = await send(svc.fetch);
      expect(response.status).toBe(200);
      expect(nodeOf(response)).not.toBe(slow.id);
    }
    const stats = await nodeStats(slow);
    expect(stats.requests).toBeGreaterThanOrEqual(1);
    // Every request the slow node got was cut off once a hedge had answered.
    await eventually(async () => (await nodeStats(slow)).abandoned === stats.requests);
  });

  it("never hedges a request that is not safe to repeat", async () => {
    const nodes = await addNodes(2);
    for (const node of nodes) await setBehaviour(node, { delayMs: 60 });
    const svc = serviceGateway(nodes, { retry: { maxAttempts: 2, hedge: { afterMs: 5 } } });
    for (let i = 0; i < 4; i++) {
      const response = await send(svc.fetch, { method: "POST", body: "once" });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
    }
    const total = (await Promise.all(nodes.map(nodeStats))).reduce((sum, s) => sum + s.requests, 0);
    expect(total).toBe(4);
  });
});
