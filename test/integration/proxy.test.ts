import { describe, expect, it } from "vitest";
import {
  ATTEMPT_PATHS,
  addNodes,
  gateway,
  nodeStats,
  serviceGateway,
  setBehaviour,
} from "./helpers.ts";

const fastRetry = { backoffBaseMs: 1, backoffMaxMs: 2 };

async function nodeOf(response: Response): Promise<string> {
  await response.body?.cancel();
  return response.headers.get("x-roundhouse-node") ?? "?";
}

// Every proxy behaviour holds on both ways an attempt can go: from the isolate on a leased slot
// (the default) and through the node's gate (leasing off), which also buffers small bodies.
describe.each(ATTEMPT_PATHS)("%s", (_path, onPath) => {
  describe("proxy", () => {
    it("forwards method, path, query and body, and answers with the node's response", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const response = await svc.fetch("/a/b%20c?x=1&y=2", { method: "PUT", body: "hello" });
      expect(response.status).toBe(200);
      const echo = (await response.json()) as Record<string, unknown>;
      expect(echo).toMatchObject({
        node: nodes[0]?.id,
        method: "PUT",
        path: "/a/b%20c",
        bodyBytes: 5,
      });
      expect(echo.query).toBe("x=1&y=2");
      expect(response.headers.get("x-roundhouse-node")).toBe(nodes[0]?.id);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
    });

    it("streams a body of unknown length, and passes a small one whole", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const chunked = await svc.fetch("/big?x=1", { headers: { "x-backend-chunked": "1" } });
      expect(chunked.status).toBe(200);
      expect(chunked.headers.get("content-length")).toBeNull();
      expect(await chunked.json()).toMatchObject({ node: nodes[0]?.id, path: "/big" });
      const small = await svc.fetch("/small");
      expect(await small.json()).toMatchObject({ node: nodes[0]?.id, path: "/small" });
    });

    it("rotates strictly: each node once per round of sequential requests", async () => {
      const nodes = await addNodes(3);
      const svc = serviceGateway(nodes, onPath);
      const seen: string[] = [];
      for (let i = 0; i < 9; i++) seen.push(await nodeOf(await svc.fetch("/")));
      for (let round = 0; round < 3; round++) {
        expect(new Set(seen.slice(round * 3, round * 3 + 3)).size).toBe(3);
      }
      expect(seen.slice(3, 6)).toEqual(seen.slice(0, 3));
    });

    it("propagates a client's x-request-id and mints one otherwise", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const given = await svc.fetch("/", { headers: { "x-request-id": "req-123" } });
      expect(given.headers.get("x-request-id")).toBe("req-123");
      expect(((await given.json()) as { requestId: string }).requestId).toBe("req-123");
      const minted = await svc.fetch("/");
      await minted.body?.cancel();
      expect(minted.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("drops hop-by-hop headers and sets X-Forwarded-*", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const response = await svc.fetch("/", {
        headers: {
          connection: "x-secret",
          "x-secret": "1",
          "keep-alive": "5",
          "proxy-authorization": "p",
          "x-kept": "yes",
        },
      });
      const echo = (await response.json()) as { headers: Record<string, string> };
      expect(echo.headers["x-kept"]).toBe("yes");
      expect(echo.headers["x-secret"]).toBeUndefined();
      expect(echo.headers["keep-alive"]).toBeUndefined();
      expect(echo.headers["proxy-authorization"]).toBeUndefined();
      expect(echo.headers["x-forwarded-proto"]).toBe("http");
      expect(echo.headers["x-forwarded-host"]).toBe("gateway.test");
    });

    it("drops the node's hop-by-hop response headers, streamed or whole, and sets its own", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const nodeHeaders = JSON.stringify({
        connection: "x-node-secret",
        "x-node-secret": "1",
        "keep-alive": "timeout=5",
        "proxy-authenticate": "Basic",
        "x-roundhouse-node": "forged",
        "x-node-kept": "yes",
      });
      const paths: Record<string, string>[] = [{}, { "x-backend-chunked": "1" }];
      for (const extra of paths) {
        const response = await svc.fetch("/", {
          headers: { "x-backend-response-headers": nodeHeaders, ...extra },
        });
        await response.body?.cancel();
        expect(response.headers.get("x-node-kept")).toBe("yes");
        expect(response.headers.get("x-node-secret")).toBeNull();
        expect(response.headers.get("keep-alive")).toBeNull();
        expect(response.headers.get("proxy-authenticate")).toBeNull();
        expect(response.headers.get("x-roundhouse-node")).toBe(nodes[0]!.id);
      }
    });

    it("by default passes the node's answer on without provenance, still without hop-by-hop or x-roundhouse-* lines", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, { ...onPath, provenance: "none" });
      const plain = await svc.fetch("/plain", { headers: { "x-request-id": "client-1" } });
      expect(await plain.json()).toMatchObject({ node: nodes[0]?.id, path: "/plain" });
      for (const name of ["x-roundhouse-node", "x-roundhouse-attempts", "x-request-id"]) {
        expect(plain.headers.get(name)).toBeNull();
      }
      if (onPath.gate === undefined) {
        // Once the isolate holds a lease (the first attempt asked the gate), an answer fetched on
        // a leased slot is not rebuilt: it is fetch's own, its headers immutable.
        const leased = await svc.fetch("/plain");
        await leased.body?.cancel();
        expect(() => leased.headers.set("x-probe", "1")).toThrow(/immutable/);
      }
      const nodeHeaders = JSON.stringify({
        connection: "x-node-secret",
        "x-node-secret": "1",
        "keep-alive": "timeout=5",
        "x-roundhouse-node": "forged",
        "x-request-id": "node-made",
        "x-node-kept": "yes",
      });
      const paths: Record<string, string>[] = [{}, { "x-backend-chunked": "1" }];
      for (const extra of paths) {
        const response = await svc.fetch("/", {
          headers: { "x-backend-response-headers": nodeHeaders, ...extra },
        });
        expect(await response.json()).toMatchObject({ node: nodes[0]?.id });
        expect(response.headers.get("x-node-kept")).toBe("yes");
        expect(response.headers.get("x-request-id")).toBe("node-made");
        for (const name of ["x-node-secret", "keep-alive", "connection", "x-roundhouse-node"]) {
          expect(response.headers.get(name)).toBeNull();
        }
      }
    });

    it("drops a node's Set-Cookie for the gateway's own cookies, keeping its others", async () => {
      const nodes = await addNodes(1);
      const svc = serviceGateway(nodes, onPath);
      const planted = { "set-cookie": "roundhouse-session=forged; Path=/_gw/dashboard" };
      const scoped = { "set-cookie": "app=1; Path=/_gw" };
      const own = { "set-cookie": "app=1; Path=/" };
      const answers: (string | null)[] = [];
      for (const headers of [planted, scoped, own, planted, own]) {
        const response = await svc.fetch("/", {
          headers: { "x-backend-response-headers": JSON.stringify(headers) },
        });
        await response.body?.cancel();
        answers.push(response.headers.get("set-cookie"));
      }
      expect(answers).toEqual([null, null, "app=1; Path=/", null, "app=1; Path=/"]);
    });

    it("answers 404 problem+json for an unknown service", async () => {
      const response = await gateway({ services: [] })("/s/nope/x");
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(await response.json()).toMatchObject({
        type: "urn:roundhouse:problem:unknown-service",
        status: 404,
      });
    });

    it("answers 503 problem+json when the service has no node", async () => {
      const svc = serviceGateway([], onPath);
      const response = await svc.fetch("/");
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        type: "urn:roundhouse:problem:no-node-available",
        tried: [],
      });
    });
  });

  describe("retries", () => {
    it("goes to another node when one refuses connections", async () => {
      const nodes = await addNodes(3);
      await setBehaviour(nodes[0]!, { mode: "refuse" });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: fastRetry,
        ejection: { consecutiveFailures: 100 },
      });
      for (let i = 0; i < 6; i++) {
        const response = await svc.fetch("/");
        expect(response.status).toBe(200);
        expect(await nodeOf(response)).not.toBe(nodes[0]?.id);
      }
    });

    it("gives up on a hung node after the per-try timeout and tries the next", async () => {
      const nodes = await addNodes(2);
      await setBehaviour(nodes[0]!, { mode: "hang" });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: { ...fastRetry, perTryTimeoutMs: 150 },
      });
      for (let i = 0; i < 2; i++) {
        const response = await svc.fetch("/");
        expect(response.status).toBe(200);
        expect(await nodeOf(response)).toBe(nodes[1]?.id);
      }
    });

    it("retries a 503 for GET but passes it through for POST without an Idempotency-Key", async () => {
      const nodes = await addNodes(2);
      await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: fastRetry,
        ejection: { consecutiveFailures: 100 },
      });
      const gets: number[] = [];
      for (let i = 0; i < 4; i++) {
        const get = await svc.fetch("/");
        gets.push(get.status);
        await get.body?.cancel();
      }
      const posts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const post = await svc.fetch("/", { method: "POST", body: "x" });
        posts.push(post.status);
        await post.body?.cancel();
      }
      expect(gets).toEqual([200, 200, 200, 200]);
      expect(posts.sort()).toEqual([200, 200, 503, 503]);
    });

    it("retries a POST that carries an Idempotency-Key, replaying its body", async () => {
      const nodes = await addNodes(2);
      await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 502 });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: fastRetry,
        ejection: { consecutiveFailures: 100 },
      });
      for (let i = 0; i < 4; i++) {
        const response = await svc.fetch("/", {
          method: "POST",
          body: "payload",
          headers: { "idempotency-key": `k${i}` },
        });
        expect(response.status).toBe(200);
        expect(((await response.json()) as { bodyBytes: number }).bodyBytes).toBe(7);
      }
    });

    it("never sends a POST again once it may have reached a node", async () => {
      const nodes = await addNodes(2);
      for (const node of nodes) await setBehaviour(node, { mode: "hang" });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: { ...fastRetry, perTryTimeoutMs: 100 },
      });
      const response = await svc.fetch("/", {
        method: "POST",
        body: "once",
        headers: { "x-request-id": "post-once" },
      });
      expect(response.status).toBe(504);
      expect(response.headers.get("x-roundhouse-attempts")).toBe("1");
      const counts = await Promise.all(
        nodes.map(async (n) => (await nodeStats(n)).byRequestId["post-once"] ?? 0),
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    });

    it("does not retry a body larger than the replay limit", async () => {
      const nodes = await addNodes(2);
      await setBehaviour(nodes[0]!, { mode: "fail", failStatus: 503 });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: { ...fastRetry, maxReplayBodyBytes: 16 },
        ejection: { consecutiveFailures: 100 },
      });
      const statuses = new Set<number>();
      for (let i = 0; i < 2; i++) {
        const response = await svc.fetch("/", { method: "PUT", body: "x".repeat(64) });
        statuses.add(response.status);
        await response.body?.cancel();
      }
      expect(statuses).toEqual(new Set([200, 503]));
    });

    it("answers 503 problem+json naming every tried node when all are down", async () => {
      const nodes = await addNodes(3);
      for (const node of nodes) await setBehaviour(node, { mode: "refuse" });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: fastRetry,
        ejection: { consecutiveFailures: 100 },
      });
      const response = await svc.fetch("/");
      expect(response.status).toBe(503);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      const body = (await response.json()) as { tried: string[]; type: string };
      expect(body.type).toBe("urn:roundhouse:problem:no-node-available");
      expect(new Set(body.tried)).toEqual(new Set(nodes.map((n) => n.id)));
    });

    it("answers 504 when every attempt times out", async () => {
      const nodes = await addNodes(2);
      for (const node of nodes) await setBehaviour(node, { mode: "hang" });
      const svc = serviceGateway(nodes, {
        ...onPath,
        retry: { ...fastRetry, perTryTimeoutMs: 80 },
      });
      const response = await svc.fetch("/");
      expect(response.status).toBe(504);
      expect(await response.json()).toMatchObject({
        type: "urn:roundhouse:problem:upstream-timeout",
      });
    });
  });
});
