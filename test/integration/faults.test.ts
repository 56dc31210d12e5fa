import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addNodes, serviceGateway } from "./helpers.ts";

/** A namespace whose objects all fail the way an overloaded or reset Durable Object does. */
function failingNamespace<T extends Rpc.DurableObjectBranded>(real: DurableObjectNamespace<T>) {
  const failing = new Proxy(
    {},
    {
      get: () => () =>
        Promise.reject(Object.assign(new Error("object reset"), { retryable: true })),
    },
  );
  return {
    idFromName: (name: string) => real.idFromName(name),
    get: () => failing,
  } as unknown as DurableObjectNamespace<T>;
}

describe("Durable Object faults", () => {
  it("keeps rotating through the nodes when the rotation coordinator is unreachable", async () => {
    const nodes = await addNodes(3);
    const svc = serviceGateway(nodes, {}, { ROTATION: failingNamespace(env.ROTATION) });
    const before = (await svc.stats()).leaseFailures;
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await svc.fetch("/");
      expect(response.status).toBe(200);
      await response.body?.cancel();
      seen.push(response.headers.get("x-roundhouse-node") ?? "");
    }
    expect((await svc.stats()).leaseFailures).toBeGreaterThan(before);
    expect(new Set(seen.slice(0, 3)).size).toBe(3);
  });

  it("answers a problem document, never a 500, when node gates fail", async () => {
    const nodes = await addNodes(2);
    const svc = serviceGateway(
      nodes,
      { retry: { backoffBaseMs: 1, backoffMaxMs: 1 } },
      { NODE_GATE: failingNamespace(env.NODE_GATE) },
    );
    const get = await svc.fetch("/");
    expect(get.status).toBe(503);
    expect(await get.json()).toMatchObject({ type: "urn:roundhouse:problem:no-node-available" });
    const post = await svc.fetch("/", { method: "POST", body: "x" });
    expect(post.status).toBe(502);
    expect(post.headers.get("content-type")).toBe("application/problem+json");
  });
});
