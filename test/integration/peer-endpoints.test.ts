import { describe, expect, it } from "vitest";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { addNodes, eventually, gateway, serviceName } from "./helpers.ts";
import { addPeers, gatewayId, signedInit, syncGateway, upsert } from "./peer-helpers.ts";

describe("peer endpoints", () => {
  async function setup() {
    const [peer] = await addPeers(1);
    const [node] = await addNodes(1);
    const service = serviceName("ep");
    const id = gatewayId();
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service });
    const post = async (body: unknown, options: Parameters<typeof signedInit>[4] = {}) =>
      gw.fetch(
        "/_gw/peer/changes",
        await signedInit(id, "POST", "/_gw/peer/changes", JSON.stringify(body), options),
      );
    return { peer: peer!, node: node!, service, gw, post, id };
  }

  it("refuses a missing, wrong or stale signature and a replay with 401, a bad body with 400", async () => {
    const { node, service, gw, post, id } = await setup();
    const body = { origin: "remote", changes: [upsert(service, "r-1", node.url)] };
    const text = JSON.stringify(body);
    const unsigned = await gw.fetch("/_gw/peer/changes", { method: "POST", body: text });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get("content-type")).toBe("application/problem+json");
    expect((await post(body, { secret: "not-the-secret" })).status).toBe(401);
    expect((await post(body, { now: Date.now() - 6 * 60_000 })).status).toBe(401);
    expect((await post(body, { now: Date.now() + 6 * 60_000 })).status).toBe(401);
    expect(await gw.table().entries()).toEqual([]);

    const init = await signedInit(id, "POST", "/_gw/peer/changes", text);
    const first = await gw.fetch("/_gw/peer/changes", init);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ applied: 1 });
    const replayed = await gw.fetch("/_gw/peer/changes", init);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { detail: string }).detail).toMatch(/already seen/);
    expect((await gw.table().entries()).map((e) => e.key)).toEqual([`${service}/r-1`]);
    // A replay with a fresh nonce but the old signature fails the MAC instead.
    const headers = { ...(init.headers as Record<string, string>) };
    headers["x-roundhouse-nonce"] = "f".repeat(32);
    expect((await gw.fetch("/_gw/peer/changes", { ...init, headers })).status).toBe(401);

    const bad = await post({ origin: "remote", changes: [{ key: "nope", kind: "upsert" }] });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { issues: { path: string }[] };
    expect(problem.issues.map((i) => i.path)).toContain("changes[0].key");
    const notJson = await gw.fetch(
      "/_gw/peer/changes",
      await signedInit(id, "POST", "/_gw/peer/changes", "{nope"),
    );
    expect(notJson.status).toBe(400);
    const badQuery = await gw.fetch(
      "/_gw/peer/routes?since=zzz",
      await signedInit(id, "GET", "/_gw/peer/routes?since=zzz"),
    );
    expect(badQuery.status).toBe(400);
    expect((await gw.fetch("/_gw/peer/digest")).status).toBe(401);
  });

  it("applies duplicates and reordered batches idempotently, and refuses a clock far ahead", async () => {
    const { node, service, gw, post } = await setup();
    const t = Date.now();
    const older = upsert(service, "r-2", node.url, t, "remote");
    const newer = {
      key: `${service}/r-2`,
      kind: "remove",
      stamp: encodeStamp({ wallMs: t + 1, counter: 0, origin: "remote" }),
    };
    expect(await (await post({ origin: "remote", changes: [newer] })).json()).toMatchObject({
      applied: 1,
    });
    expect(await (await post({ origin: "remote", changes: [older, newer] })).json()).toMatchObject({
      applied: 0,
    });
    expect((await gw.table().entries())[0]).toMatchObject({
      record: null,
      state: { kind: "removed" },
    });
    const ahead = await post({
      origin: "remote",
      changes: [upsert(service, "r-3", node.url, Date.now() + 10 * 60_000)],
    });
    expect(ahead.status).toBe(409);
    expect(((await ahead.json()) as { type: string }).type).toBe(
      "urn:roundhouse:problem:clock-drift",
    );
    expect((await gw.table().entries()).map((e) => e.key)).toEqual([`${service}/r-2`]);
  });

  it("applies remote upserts, ejections, readmissions and removals to routing here", async () => {
    const { node, service, gw, post } = await setup();
    let wall = Date.now();
    const stamp = () => encodeStamp({ wallMs: ++wall, counter: 0, origin: "remote" });
    const key = `${service}/remote-1`;
    await post({
      origin: "remote",
      changes: [{ ...upsert(service, "remote-1", node.url), stamp: stamp() }],
    });
    const routable = async () =>
      (await (await gw.fetch(`/_gw/services/${service}/localnodes`)).json()) as string[];
    expect(await routable()).toEqual([new URL(node.url).host]);
    expect((await gw.detail()).nodes).toEqual([
      expect.objectContaining({ id: "remote-1", source: "registered", ejectedUntil: null }),
    ]);
    const until = Date.now() + 60_000;
    await post({ origin: "remote", changes: [{ key, kind: "eject", until, stamp: stamp() }] });
    expect((await gw.detail()).nodes[0]?.ejectedUntil).toBe(until);
    // The public list is this isolate's cached view: it takes the ejection at its next refresh.
    await eventually(async () => (await routable()).length === 0);
    await post({ origin: "remote", changes: [{ key, kind: "readmit", stamp: stamp() }] });
    expect((await gw.detail()).nodes[0]?.ejectedUntil).toBeNull();
    await post({ origin: "remote", changes: [{ key, kind: "remove", stamp: stamp() }] });
    expect((await gw.detail()).nodes).toEqual([]);
    // Remote changes are not forwarded: the peer's queue holds only this gateway's own.
    expect((await gw.detail()).peers).toEqual([expect.objectContaining({ pending: 0 })]);
  });

  it("answers 404 when peer sync is off", async () => {
    const off = gateway({ services: [] });
    expect(
      (await off("/_gw/peer/digest", await signedInit("any", "GET", "/_gw/peer/digest"))).status,
    ).toBe(404);
  });
});
