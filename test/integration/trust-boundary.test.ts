import { describe, expect, it } from "vitest";
import { addNodes, gateway, serviceGateway, serviceName, setBehaviour } from "./helpers.ts";

const fastRetry = { backoffBaseMs: 1, backoffMaxMs: 2 };

// Inputs a client controls, tried as an attacker would, on both paths an attempt can take.
describe.each([
  ["on leased slots", {}],
  ["through the gate", { gate: { lease: false } }],
])("client input at the proxy (%s)", (_path, onPath) => {
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
