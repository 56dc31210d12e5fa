import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import type { BackendNode } from "../../backend/node-types.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";

// What a client receives on the wire, past workerd's own HTTP layer. Under the default
// `provenance: "none"` an answer whose only hop-by-hop headers are the connection-level ones is
// passed on as fetched, relying on workerd to drop those itself; this pins that it does, and that
// every other header the gateway must drop is gone whether the answer was rebuilt or not.

let fleet: Fleet;
let node: BackendNode;
let gateways: GatewayIsolates;

beforeAll(async () => {
  fleet = await startFleet({ host: "127.0.0.1" });
  node = await fleet.addNode();
  gateways = await startGatewayIsolates(1, {
    services: [{ name: "plain", nodes: [{ id: node.id, url: node.url }], allow: ["127.0.0.0/8"] }],
  });
}, 60_000);

afterAll(async () => {
  await gateways?.close();
  await fleet?.close();
});

/** The answer's header names as they arrived on the socket, lower-cased. */
function wireHeaders(nodeHeaders: Record<string, string>): Promise<Map<string, string>> {
  const url = new URL(`${gateways.urls[0]}/s/plain/`);
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { headers: { "x-backend-response-headers": JSON.stringify(nodeHeaders) } },
      (response) => {
        const seen = new Map<string, string>();
        const raw = response.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          seen.set((raw[i] as string).toLowerCase(), raw[i + 1] as string);
        }
        response.resume();
        response.on("end", () => resolve(seen));
      },
    );
    request.on("error", reject);
  });
}

describe("a node's answer on the wire, default provenance", () => {
  it("arrives without the connection-level headers the node sent, passed on as fetched", async () => {
    // Several times: the first attempts may go through the gate before a lease is held.
    for (let i = 0; i < 4; i++) {
      const seen = await wireHeaders({
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        upgrade: "h2c",
        "x-kept": "yes",
      });
      expect(seen.get("x-kept")).toBe("yes");
      for (const name of ["keep-alive", "upgrade"]) {
        expect(seen.has(name)).toBe(false);
      }
      // The runtime's own hop may say keep-alive or close; never the node's listing.
      expect(seen.get("connection") ?? "keep-alive").toMatch(/^(keep-alive|close)$/i);
    }
  });

  it("arrives without proxy-*, Connection-named or x-roundhouse-* headers", async () => {
    for (let i = 0; i < 4; i++) {
      const seen = await wireHeaders({
        connection: "keep-alive, x-secret",
        "x-secret": "1",
        "proxy-authenticate": "Basic",
        "x-roundhouse-node": "forged",
        "x-kept": "yes",
      });
      expect(seen.get("x-kept")).toBe("yes");
      for (const name of ["x-secret", "proxy-authenticate", "x-roundhouse-node"]) {
        expect(seen.has(name)).toBe(false);
      }
    }
  });
});
