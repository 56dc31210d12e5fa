import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { addNodes, gateway, serviceName } from "./helpers.ts";
import { addPeers, gatewayId, PEER_SECRET, signedInit, syncGateway } from "./peer-helpers.ts";

/** A gateway with one peer and one service, and a signed POST of changes to it. */
async function setup(peerOptions: Parameters<typeof addPeers>[1] = {}) {
  const [peer] = await addPeers(1, peerOptions);
  const service = serviceName("trust");
  const id = gatewayId();
  const gw = syncGateway({ gatewayId: id, peers: [peer!], service });
  const post = async (changes: unknown[], target = id) =>
    gw.fetch(
      "/_gw/peer/changes",
      await signedInit(
        target,
        "POST",
        "/_gw/peer/changes",
        JSON.stringify({ origin: "r", changes }),
      ),
    );
  return { peer: peer!, service, id, gw, post };
}

describe("peer trust", () => {
  it("refuses a request signed for another gateway: a capture cannot be replayed to a peer", async () => {
    const { post } = await setup();
    const response = await post([], "some-other-gateway");
    expect(response.status).toBe(401);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/signature/);
  });

  it("signs its answers, bound to the request's nonce", async () => {
    const { gw, id } = await setup();
    const init = await signedInit(id, "GET", "/_gw/peer/digest");
    const response = await gw.fetch("/_gw/peer/digest", init);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-roundhouse-answer-signature")).toMatch(/^v2=[0-9a-f]{64}$/);
  });

  it("caps a peer's ejection at the service's ejection.maxMs", async () => {
    const [node] = await addNodes(1);
    const { service, gw, post } = await setup();
    let wall = Date.now();
    const stamp = () => encodeStamp({ wallMs: ++wall, counter: 0, origin: "r" });
    const key = `${service}/n-1`;
    const record = { url: node!.url, weight: 1 };
    expect((await post([{ key, kind: "upsert", stamp: stamp(), record }])).status).toBe(200);
    const tenDays = Date.now() + 10 * 86_400_000;
    expect((await post([{ key, kind: "eject", until: tenDays, stamp: stamp() }])).status).toBe(200);
    const ejected = (await gw.detail()).nodes[0]?.ejectedUntil ?? 0;
    expect(ejected).toBeGreaterThan(Date.now());
    expect(ejected).toBeLessThanOrEqual(Date.now() + 300_000);
  });

  it("applies nothing from a peer whose answers are unsigned, and says why", async () => {
    const { gw } = await setup({ secret: null });
    const [node] = await addNodes(1);
    expect((await gw.register({ url: node!.url, id: "mine" })).status).toBe(201);
    // The peer took the push, but its answer is not signed: the change stays pending.
    await gw.syncRound();
    const view = (await gw.detail()).peers[0];
    expect(view?.lastError?.message).toMatch(/answer signature missing or wrong/);
    expect(view?.pending).toBe(1);
  });

  it("answers 413 to an oversized peer body while it streams, before any signature check", async () => {
    const { gw, id } = await setup();
    const big = new Uint8Array(2 * 1024 * 1024);
    const init = await signedInit(id, "POST", "/_gw/peer/changes", "");
    const response = await gw.fetch("/_gw/peer/changes", {
      ...init,
      body: new Blob([big]).stream(),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("secrets", () => {
  it.each(["ADMIN_TOKEN", "PEER_SECRET"])(
    "refuses a %s shorter than 32 bytes at load, naming it",
    async (name) => {
      const fetchVia = gateway({ services: [] }, { [name]: "too-short" } as Partial<Env>);
      const response = await fetchVia("/_gw/services");
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        type: "urn:roundhouse:problem:bad-config",
        issues: [{ path: name }],
      });
      const health = await fetchVia("/_gw/health");
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ issues: [{ path: name }] });
    },
  );

  it("accepts the test secrets, which are 32 bytes or more", () => {
    expect(new TextEncoder().encode(PEER_SECRET).byteLength).toBeGreaterThanOrEqual(32);
  });
});

describe("a registration the peers cannot be told of", () => {
  it("is not made: register and remove throw and change nothing when the change cannot be recorded", async () => {
    const name = serviceName("rec");
    const stub = liveNodesOf(env, name);
    const config = {
      service: name,
      nodes: [],
      egress: { kind: "internet" as const },
      allow: ["127.0.0.0/8"],
      gatewayId: "rec-gw",
    };
    const node = { id: "n-1", url: "http://127.0.0.1:9", weight: 1 };
    // RouteSync unreachable: every record fails.
    const failing = {
      ...env,
      ROUTE_SYNC: {
        idFromName: () => ({}),
        get: () => ({ record: () => Promise.reject(new Error("route sync down")) }),
      },
    } as unknown as Env;
    await runInDurableObject(stub, async (_instance: LiveNodes, state) => {
      const live = new LiveNodes(state, failing);
      await expect(live.register(config, node)).rejects.toThrow(/route sync down/);
      expect((await live.report(config, [{ kind: "cluster" }])).registered).toEqual([]);
      // Registered while sync works, then removal fails: the node stays.
      expect(await new LiveNodes(state, env).register(config, node)).toBe(true);
      await expect(new LiveNodes(state, failing).remove(config, "n-1")).rejects.toThrow();
      const after = await new LiveNodes(state, env).report(config, [{ kind: "cluster" }]);
      expect(after.registered.map((n) => n.id)).toEqual(["n-1"]);
    });
  });
});
