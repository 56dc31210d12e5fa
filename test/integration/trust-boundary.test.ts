import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Counters } from "../../src/dispatch/counters.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { HEAVY_TEST } from "../timeouts.ts";
import {
  type ClusterNode,
  discoveringService,
  discoveryStats,
  hostsOf,
  twoDatacenters,
} from "./cluster-helpers.ts";
import {
  ADMIN,
  ATTEMPT_PATHS,
  addNodes,
  gateway,
  serviceGateway,
  serviceName,
  setBehaviour,
} from "./helpers.ts";

const fastRetry = { backoffBaseMs: 1, backoffMaxMs: 2 };

// Inputs a client controls, tried as an attacker would, on both paths an attempt can take.
describe.each(ATTEMPT_PATHS)("client input at the proxy (%s)", (_path, onPath) => {
  it("cuts the raw path after a percent-encoded service name, so nothing shifts", async () => {
    const nodes = await addNodes(1);
    const name = serviceName("echo");
    const fetchVia = gateway({
      services: [{ name, ...onPath, nodes: nodes.map(({ id, url }) => ({ id, url })) }],
    });
    const encoded = `${name.slice(0, 2)}%${name.charCodeAt(2).toString(16)}${name.slice(3)}`;
    const response = await fetchVia(`/s/${encoded}/secret?q=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ path: "/secret", query: "q=1" });
    const bare = await fetchVia(`/s/${encoded}`);
    expect(bare.status).toBe(200);
    expect(await bare.json()).toMatchObject({ path: "/" });
  });

  it("forwards none of the gateway's own headers a client sends", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, { ...onPath, scope: { allowHeader: true } });
    const response = await svc.fetch("/", {
      headers: {
        "x-roundhouse-scope": "dc=eu",
        "x-roundhouse-signature": "v1=00",
        "x-roundhouse-timestamp": "1",
        "x-roundhouse-nonce": "n",
        "x-roundhouse-node": "forged",
        "x-kept": "yes",
      },
    });
    const echo = (await response.json()) as { headers: Record<string, string> };
    expect(echo.headers["x-kept"]).toBe("yes");
    expect(Object.keys(echo.headers).filter((h) => h.startsWith("x-roundhouse-"))).toEqual([]);
  });

  it("does not take an empty Idempotency-Key as a key: the POST is not retried", async () => {
    const nodes = await addNodes(2);
    for (const node of nodes) await setBehaviour(node, { mode: "fail", failStatus: 503 });
    const svc = serviceGateway(nodes, {
      ...onPath,
      retry: fastRetry,
      ejection: { consecutiveFailures: 100 },
    });
    for (const key of ["", "  "]) {
      const response = await svc.fetch("/", {
        method: "POST",
        body: "x",
        headers: { "idempotency-key": key },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
      await response.body?.cancel();
    }
  });
});

const gunzip = async (bytes: ArrayBuffer) =>
  new Uint8Array(
    await new Response(
      new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).arrayBuffer(),
  );

describe.each(ATTEMPT_PATHS)("what the node sends back (%s)", (_path, onPath) => {
  it("passes content encoding through as the client asked, bytes untouched", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, onPath);
    const ask = (acceptEncoding?: string, cf?: { clientAcceptEncoding: string }) =>
      svc.fetch("/enc", {
        headers: {
          "x-backend-compress": "1",
          ...(acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding }),
        },
        ...(cf === undefined ? {} : { cf }),
      });
    // The client asks for gzip: the node's gzip bytes arrive as they left it, with their length.
    const gzip = await ask("gzip");
    expect(gzip.headers.get("content-encoding")).toBe("gzip");
    expect(gzip.headers.get("etag")).toBe('"shaped-gzip"');
    const raw = await gzip.arrayBuffer();
    expect(Number(gzip.headers.get("content-length"))).toBe(raw.byteLength);
    const echo = JSON.parse(new TextDecoder().decode(await gunzip(raw))) as {
      headers: Record<string, string>;
    };
    expect(echo.headers["accept-encoding"]).toBe("gzip");
    // br and `*`: the node's brotli bytes, untouched and of the length they are.
    for (const acceptEncoding of ["br", "*"]) {
      const br = await ask(acceptEncoding);
      expect(br.headers.get("content-encoding")).toBe("br");
      expect(br.headers.get("etag")).toBe('"shaped-br"');
      const bytes = await br.arrayBuffer();
      expect(Number(br.headers.get("content-length"))).toBe(bytes.byteLength);
    }
  });

  it("asks the node for identity when the client accepts no coding, whatever the runtime asked", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, onPath);
    const ask = (acceptEncoding?: string, cf?: { clientAcceptEncoding: string }) =>
      svc.fetch("/enc", {
        headers: {
          "x-backend-compress": "1",
          ...(acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding }),
        },
        ...(cf === undefined ? {} : { cf }),
      });
    const cases: [string | undefined, { clientAcceptEncoding: string } | undefined][] = [
      [undefined, undefined],
      ["identity", undefined],
      ["gzip;q=0", undefined],
      ["gzip;q=0, identity", undefined],
      ["*;q=0.000, identity", undefined],
      // As under `npm start` and deployed: the platform replaced the header and kept the client's
      // own value (none, or identity) in cf.clientAcceptEncoding.
      ["br, gzip", { clientAcceptEncoding: "" }],
      ["br, gzip", { clientAcceptEncoding: "identity" }],
    ];
    for (const [acceptEncoding, cf] of cases) {
      const plain = await ask(acceptEncoding, cf);
      expect(plain.headers.get("content-encoding"), `${acceptEncoding} ${cf}`).toBeNull();
      expect(plain.headers.get("etag")).toBe('"shaped-identity"');
      const text = await plain.text();
      expect(Number(plain.headers.get("content-length"))).toBe(
        new TextEncoder().encode(text).length,
      );
      const body = JSON.parse(text) as { headers: Record<string, string> };
      expect(body.headers["accept-encoding"]).toBe("identity");
    }
    // The platform replaced a gzip-only client's header: the node is asked for gzip, not br.
    const replaced = await ask("br, gzip", { clientAcceptEncoding: "gzip" });
    expect(replaced.headers.get("content-encoding")).toBe("gzip");
    await replaced.body?.cancel();
  });

  it(
    "ends the per-try timer at the response headers: a slow small body is no timeout",
    HEAVY_TEST,
    async () => {
      const nodes = await addNodes(2);
      // Headers have a second to come even on a busy machine; the body comes well after that.
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: { ...fastRetry, perTryTimeoutMs: 1_000 },
      });
      const response = await svc.fetch("/", { headers: { "x-backend-body-delay-ms": "2500" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
      expect(((await response.json()) as { path: string }).path).toBe("/");
    },
  );

  it("does not count the upload against the per-try timeout", HEAVY_TEST, async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, {
      ...onPath,
      retry: { ...fastRetry, perTryTimeoutMs: 1_000, maxReplayBodyBytes: 0 },
    });
    const chunk = new Uint8Array(16 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // The client paces its own upload: eight chunks over about 2 s, twice the per-try timeout.
        if (sent === 8) return controller.close();
        await new Promise((resolve) => setTimeout(resolve, 250));
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await svc.fetch("/upload", { method: "POST", body });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { bodyBytes: number }).bodyBytes).toBe(8 * chunk.length);
  });

  it("gives the client the node's 413 for an upload it refuses, or a 502 problem, never a reset", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, { ...onPath, retry: { maxReplayBodyBytes: 0 } });
    for (let i = 0; i < 5; i++) {
      const response = await svc.fetch("/upload", {
        method: "POST",
        headers: { "x-backend-max-body-bytes": "1024" },
        body: new Blob([new Uint8Array(4 * 1024 * 1024)]).stream(),
      });
      expect([413, 502]).toContain(response.status);
      if (response.status === 502) {
        expect(response.headers.get("content-type")).toBe("application/problem+json");
      }
      await response.body?.cancel();
    }
  });
});

describe("x-roundhouse-scope from clients", () => {
  it("honours known places, and lets made-up names fall back without creating any state", async () => {
    const cluster = await twoDatacenters();
    const svc = discoveringService(
      cluster,
      { dc: "dc1", allowHeader: true },
      { discovery: { datacenters: ["dc2"] } },
    );
    const dc2 = hostsOf(cluster.nodes.filter((n) => n.dc === "dc2"));
    const dc1 = hostsOf(cluster.nodes.filter((n) => n.dc === "dc1"));
    const via = async (scope: string) => {
      const response = await svc.fetch("/", { headers: { "x-roundhouse-scope": scope } });
      expect(response.status).toBe(200);
      await response.body?.cancel();
      return response.headers.get("x-roundhouse-node") ?? "";
    };
    expect(dc2).toContain(await via("dc=dc2"));
    for (let i = 0; i < 40; i++) expect(dc1).toContain(await via(`dc=made-up-${i}`));
    expect(dc1).toContain(await via("dc=dc1;rack=no-such-rack"));
    // No discovery round asked for a made-up name, and the live-node object holds no chain of one.
    const asked = await discoveryAsked(cluster);
    expect(
      Object.keys(asked).filter((q) => q.includes("made-up") || q.includes("no-such")),
    ).toEqual([]);
    const stub = liveNodesOf(env, svc.name);
    const chains = await runInDurableObject(stub, (_i, state) =>
      Object.keys(state.storage.kv.get<{ chains: Record<string, unknown> }>("state")?.chains ?? {}),
    );
    expect(chains.filter((key) => key.includes("made-up") || key.includes("no-such"))).toEqual([]);
  });

  it("still answers 400 for a malformed header", async () => {
    const nodes = await addNodes(1);
    const svc = serviceGateway(nodes, { scope: { allowHeader: true } });
    const response = await svc.fetch("/", { headers: { "x-roundhouse-scope": "dc=a;;" } });
    expect(response.status).toBe(400);
  });
});

describe("anonymous /localnodes reads", () => {
  async function setup() {
    const nodes = await addNodes(2);
    const name = serviceName("ln");
    const fetchVia = gateway({
      services: [{ name, nodes: nodes.map(({ id, url }) => ({ id, url })) }],
    });
    const stats = async () =>
      (await (await fetchVia("/_gw/stats", { headers: ADMIN })).json()) as Counters;
    return { nodes, name, fetchVia, stats };
  }

  it("write no Durable Object storage, and call the live-node object once per refresh, not per read", async () => {
    const { nodes, name, fetchVia, stats } = await setup();
    // Traffic first: the live-node object adopts the configuration and stores its state.
    await (await fetchVia(`/s/${name}/`)).body?.cancel();
    const stub = liveNodesOf(env, name);
    // Its stored state goes away (the object keeps its own in memory): any save brings it back.
    const stored = await runInDurableObject(stub, (_i, state) => {
      const value = state.storage.kv.get("state");
      state.storage.kv.delete("state");
      return value;
    });
    expect(stored).toBeDefined();
    const before = await stats();
    const hosts = nodes.map((n) => new URL(n.url).host).sort();
    for (let i = 0; i < 20; i++) {
      const response = await fetchVia(`/_gw/services/${name}/localnodes`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as string[]).sort()).toEqual(hosts);
    }
    const written = await runInDurableObject(stub, (_i, state) => state.storage.kv.get("state"));
    expect(written).toBeUndefined();
    // One call per refresh interval (a second) at most; twenty reads take far less than two.
    const after = await stats();
    expect(after.liveNodeCalls - before.liveNodeCalls).toBeLessThanOrEqual(2);
    expect(after.coordinatorCalls - before.coordinatorCalls).toBeLessThanOrEqual(2);
  });

  it("answer made-up places empty without calling any object", async () => {
    const { name, fetchVia, stats } = await setup();
    const before = await stats();
    for (let i = 0; i < 20; i++) {
      for (const query of [`dc=made-up-${i}`, `dc=made-up-${i}&rack=r`, `rack=r-${i}`]) {
        const response = await fetchVia(`/_gw/services/${name}/localnodes?${query}`);
        expect(await response.json()).toEqual([]);
      }
    }
    const after = await stats();
    expect(after.liveNodeCalls).toBe(before.liveNodeCalls);
    expect(after.coordinatorCalls).toBe(before.coordinatorCalls);
  });
});

describe.each(ATTEMPT_PATHS)("what a failed dispatch tells the client (%s)", (_path, onPath) => {
  it("gives a fixed detail for a failed connection, never the runtime's words", async () => {
    const name = serviceName("conn");
    // Nothing listens on the discard port: the connection fails, and a POST is not retried.
    const fetchVia = gateway({
      services: [{ name, ...onPath, retry: fastRetry, nodes: [{ url: "http://127.0.0.1:9" }] }],
    });
    const response = await fetchVia(`/s/${name}/`, { method: "POST", body: "x" });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { type: string; detail: string; tried: string[] };
    expect(body.type).toBe("urn:roundhouse:problem:upstream-error");
    expect(body.detail).toBe("the node's connection failed");
    // A node's id is its host and port unless the configuration names it (docs/security.md).
    expect(body.tried).toEqual(["127.0.0.1:9"]);
  });
});

describe("what anonymous callers learn", () => {
  const good = () => ({ services: [{ name: serviceName("pub"), nodes: [] }] });

  it("/_gw/stats needs the admin token", async () => {
    const fetchVia = gateway(good());
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const response = await fetchVia("/_gw/stats", { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
    const counted = await fetchVia("/_gw/stats", { headers: ADMIN });
    expect(counted.status).toBe(200);
    expect(await counted.json()).toMatchObject({ dispatches: expect.any(Number) });
  });

  it("/_gw/health tells anyone the status only; the services are the token holder's", async () => {
    const config = good();
    const fetchVia = gateway(config);
    expect(await (await fetchVia("/_gw/health")).json()).toEqual({ status: "ok" });
    expect(await (await fetchVia("/_gw/health", { headers: ADMIN })).json()).toEqual({
      status: "ok",
      services: [config.services[0]!.name],
    });
    const unbound = gateway({
      services: [
        {
          name: serviceName("vpc"),
          nodes: [],
          egress: { kind: "vpc-network", binding: "NOT_BOUND" },
          allow: ["127.0.0.0/8"],
        },
      ],
    });
    const response = await unbound("/_gw/health");
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "egress-unavailable" });
  });

  it("names a bad configuration's fields, but not what is wrong with them, to anyone", async () => {
    const fetchVia = gateway(good(), { PEER_SECRET: "too-short" } as Partial<Env>);
    const health = await fetchVia("/_gw/health");
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: "bad-config",
      issues: [{ path: "PEER_SECRET" }],
    });
    const refused = await fetchVia("/s/anything/");
    expect(refused.status).toBe(503);
    const problem = (await refused.json()) as { detail: string; issues: unknown[] };
    expect(problem.issues).toEqual([{ path: "PEER_SECRET" }]);
    expect(JSON.stringify(problem)).not.toMatch(/bytes/);
    // The admin token's holder reads the messages.
    const told = (await (await fetchVia("/_gw/health", { headers: ADMIN })).json()) as {
      issues: { path: string; message: string }[];
    };
    expect(told.issues).toEqual([{ path: "PEER_SECRET", message: expect.stringMatching(/bytes/) }]);
  });

  it("lets no short ADMIN_TOKEN unlock the messages", async () => {
    const short = "short-admin-token";
    const fetchVia = gateway(good(), { ADMIN_TOKEN: short });
    const health = await fetchVia("/_gw/health", { headers: { authorization: `Bearer ${short}` } });
    expect(await health.json()).toEqual({
      status: "bad-config",
      issues: [{ path: "ADMIN_TOKEN" }],
    });
  });
});

/** Every /localnodes query the cluster's nodes were asked, with counts. */
async function discoveryAsked(cluster: { nodes: ClusterNode[] }): Promise<Record<string, number>> {
  const all: Record<string, number> = {};
  for (const node of cluster.nodes) {
    const { localnodesByQuery } = await discoveryStats(node);
    for (const [query, count] of Object.entries(localnodesByQuery)) {
      all[query] = (all[query] ?? 0) + count;
    }
  }
  return all;
}

describe("the admin hostname", () => {
  async function split() {
    const nodes = await addNodes(1);
    const name = serviceName("split");
    const config = {
      adminHost: "Admin.Gateway.test",
      services: [{ name, nodes: nodes.map(({ id, url }) => ({ id, url })) }],
    };
    return {
      name,
      proxyHost: gateway(config, {}, "http://gateway.test"),
      adminHost: gateway(config, {}, "http://admin.gateway.test:8443"),
    };
  }

  it("serves the dashboard, admin API and metrics there alone", async () => {
    const { name, proxyHost, adminHost } = await split();
    for (const path of [
      "/_gw/dashboard",
      "/_gw/dashboard/fragment",
      "/_gw/services",
      `/_gw/services/${name}`,
      "/_gw/metrics",
      "/_gw/openapi.json",
    ]) {
      const elsewhere = await proxyHost(path, { headers: ADMIN });
      expect(elsewhere.status, path).toBe(404);
      expect(await elsewhere.json()).toMatchObject({ type: "urn:roundhouse:problem:not-found" });
    }
    expect((await adminHost("/_gw/services", { headers: ADMIN })).status).toBe(200);
    expect((await adminHost("/_gw/dashboard")).status).toBe(200);
  });

  it("serves no proxied request or invocation on the admin hostname", async () => {
    const { name, proxyHost, adminHost } = await split();
    expect((await proxyHost(`/s/${name}/page`)).status).toBe(200);
    const proxied = await adminHost(`/s/${name}/page`);
    expect(proxied.status).toBe(404);
    expect(await proxied.json()).toMatchObject({
      detail: expect.stringContaining("admin hostname"),
    });
    expect((await adminHost(`/v1/invoke/${name}`, { method: "POST", body: "x" })).status).toBe(404);
  });

  it("keeps health, localnodes and the peer endpoints on every host", async () => {
    const { name, proxyHost, adminHost } = await split();
    for (const fetchVia of [proxyHost, adminHost]) {
      expect((await fetchVia("/_gw/health")).status).toBe(200);
      expect((await fetchVia(`/_gw/services/${name}/localnodes`)).status).toBe(200);
      // Answered by the peer endpoint itself (sync is off here), not by the host boundary.
      const peer = await fetchVia("/_gw/peer/changes", { method: "POST", body: "{}" });
      expect(await peer.json()).toMatchObject({ detail: "peer sync is not configured" });
    }
  });

  it("refuses an admin hostname that is not a hostname", async () => {
    for (const adminHost of ["admin.test:8443", "https://admin.test", "admin test", ""]) {
      const response = await gateway({ adminHost, services: [] })("/_gw/services", {
        headers: ADMIN,
      });
      expect(response.status, adminHost).toBe(503);
      expect(await response.json()).toMatchObject({ type: "urn:roundhouse:problem:bad-config" });
    }
  });
});
