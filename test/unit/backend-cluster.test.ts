import { describe, expect, it } from "vitest";
import {
  type ClusterJson,
  DC1,
  DC2,
  occupy,
  portOf,
  TWO_DCS,
  useFleet,
} from "./cluster-fixture.ts";
import { waitFor } from "./wait-for.ts";

const { fleet, control, cluster } = useFleet();

/** Asks a cluster node for its local nodes; answers the parsed array. */
async function localnodes(url: string, query = ""): Promise<unknown> {
  const res = await fetch(`${url}/localnodes${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  return res.json();
}

/** Attaches the handler at once, so a rejection during a later await is not "unhandled". */
function outcome(pending: Promise<Response>): Promise<Response | Error> {
  return pending.then(
    (res) => res,
    (error: Error) => error,
  );
}

describe("cluster creation", () => {
  it("starts every node on its own loopback address and one shared port", async () => {
    const c = await cluster({ name: "c" });
    expect(c.name).toBe("c");
    expect(c.addressFormat).toBe("ip");
    expect(c.port).toBeGreaterThan(0);
    expect(c.nodes).toEqual(
      [
        { id: "c-dc1-r1-1", host: "127.1.1.1", dc: "dc1", rack: "r1" },
        { id: "c-dc1-r1-2", host: "127.1.1.2", dc: "dc1", rack: "r1" },
        { id: "c-dc1-r2-1", host: "127.1.1.3", dc: "dc1", rack: "r2" },
        { id: "c-dc2-r1-1", host: "127.1.1.4", dc: "dc2", rack: "r1" },
        { id: "c-dc2-r1-2", host: "127.1.1.5", dc: "dc2", rack: "r1" },
      ].map((node) => ({ ...node, port: c.port, url: `http://${node.host}:${c.port}` })),
    );
    for (const node of c.nodes) {
      const res = await fetch(`${node.url}/data`);
      expect(res.headers.get("x-node-id")).toBe(node.id);
    }
    expect(await control("GET", "/clusters/c")).toEqual({ status: 200, json: c });
    expect(await control("GET", "/clusters")).toEqual({ status: 200, json: [c] });
    const listed = (await control("GET", "/nodes")).json as { id: string; cluster: string }[];
    expect(listed.map((node) => [node.id, node.cluster])).toEqual(
      c.nodes.map((node) => [node.id, "c"]),
    );
  });

  it("gives two clusters disjoint addresses and separate memberships", async () => {
    const first = await cluster();
    const second = await cluster({ layout: [{ dc: "dc1", rack: "r1", count: 2 }] });
    expect([first.name, second.name]).toEqual(["cluster-1", "cluster-2"]);
    expect(second.nodes.map((node) => node.host)).toEqual(["127.1.2.1", "127.1.2.2"]);
    expect(await localnodes(second.nodes[0]!.url)).toEqual(["127.1.2.1", "127.1.2.2"]);
    expect(await localnodes(first.nodes[0]!.url)).toEqual(DC1);
    expect(await control("DELETE", "/clusters/cluster-1")).toEqual({ status: 204, json: null });
    const third = await cluster({ layout: [{ dc: "dc1", rack: "r1", count: 1 }] });
    expect(third.nodes[0]!.host).toBe("127.1.1.1");
  });

  it("uses a requested port and answers 409 when it is taken on any address", async () => {
    const squatter = await occupy("127.1.1.2");
    const port = portOf(squatter);
    try {
      const taken = await control("POST", "/clusters", { port, layout: TWO_DCS });
      expect(taken).toMatchObject({
        status: 409,
        json: { error: expect.stringMatching(/in use/) },
      });
      expect(fleet().nodes.size).toBe(0);
      expect(fleet().clusters.size).toBe(0);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    const c = await cluster({ port });
    expect(c.port).toBe(port);
    expect(c.nodes.every((node) => node.port === port)).toBe(true);
  });

  it("deletes a cluster and all its nodes", async () => {
    const c = await cluster({ name: "gone" });
    expect(await control("DELETE", "/clusters/gone")).toEqual({ status: 204, json: null });
    await expect(fetch(c.nodes[0]!.url)).rejects.toThrow();
    expect(fleet().nodes.size).toBe(0);
    expect(await control("GET", "/clusters/gone")).toMatchObject({ status: 404 });
    expect(await control("DELETE", "/clusters/gone")).toMatchObject({ status: 404 });
  });
});

describe("GET /localnodes", () => {
  it("answers the contacted node's dc by default, any dc or rack on request", async () => {
    const c = await cluster();
    const [dc1Node, , dc1Rack2Node, dc2Node] = c.nodes.map((node) => node.url);
    expect(await localnodes(dc1Node!)).toEqual(DC1);
    expect(await localnodes(dc2Node!)).toEqual(DC2);
    expect(await localnodes(dc1Node!, "?dc=dc2")).toEqual(DC2);
    expect(await localnodes(dc1Node!, "?rack=r2")).toEqual(["127.1.1.3"]);
    expect(await localnodes(dc2Node!, "?rack=r1")).toEqual(DC2);
    expect(await localnodes(dc1Rack2Node!, "?dc=dc2&rack=r1")).toEqual(DC2);
    expect(await localnodes(dc1Node!, "?dc=dc1&rack=r1")).toEqual(["127.1.1.1", "127.1.1.2"]);
    expect(await localnodes(dc1Node!, "?dc=nowhere")).toEqual([]);
    expect(await localnodes(dc1Node!, "?rack=nowhere")).toEqual([]);
    expect(await localnodes(dc2Node!, "?dc=dc2&rack=r2")).toEqual([]);
    const res = await fetch(`${dc2Node}/localnodes`);
    expect(res.headers.get("x-node-id")).toBe("cluster-1-dc2-r1-1");
  });

  it("drops stopped and refusing nodes until they come back", async () => {
    const c = await cluster({ name: "c" });
    const asker = c.nodes[0]!.url;
    await control("POST", "/nodes/c-dc1-r1-2/stop");
    await control("POST", "/nodes/c-dc1-r2-1/behaviour", { mode: "refuse" });
    expect(await localnodes(asker)).toEqual(["127.1.1.1"]);
    await expect(fetch(`${c.nodes[1]!.url}/localnodes`)).rejects.toThrow();
    await expect(fetch(`${c.nodes[2]!.url}/localnodes`)).rejects.toThrow();
    await control("POST", "/nodes/c-dc1-r1-2/start");
    expect(await localnodes(asker)).toEqual(["127.1.1.1", "127.1.1.2"]);
    await control("POST", "/nodes/c-dc1-r2-1/behaviour", { mode: "ok" });
    expect(await localnodes(asker)).toEqual(DC1);
  });

  it("keeps hung and failing nodes listed, and they still answer discovery", async () => {
    const c = await cluster({ name: "c" });
    await control("POST", "/nodes/c-dc1-r1-1/behaviour", { mode: "hang" });
    await control("POST", "/nodes/c-dc1-r1-2/behaviour", {
      mode: "fail",
      flap: { downMs: 60_000, periodMs: 60_000 },
      delayMs: 60_000,
    });
    expect(await localnodes(c.nodes[0]!.url)).toEqual(DC1);
    expect(await localnodes(c.nodes[1]!.url)).toEqual(DC1);
    const data = await fetch(`${c.nodes[1]!.url}/data`, { headers: { "x-backend-delay-ms": "0" } });
    expect(data.status).toBe(503);
  });

  it("drops deleted nodes and lists nodes that join later", async () => {
    const c = await cluster({ name: "c" });
    expect(await control("DELETE", "/nodes/c-dc1-r1-1")).toMatchObject({ status: 204 });
    expect(await localnodes(c.nodes[1]!.url)).toEqual(["127.1.1.2", "127.1.1.3"]);
    const joined = await control("POST", "/nodes", { cluster: "c", dc: "dc1", rack: "r1" });
    expect(joined).toMatchObject({
      status: 201,
      json: { id: "c-dc1-r1-1", host: "127.1.1.1", port: c.port, cluster: "c" },
    });
    const extra = await control("POST", "/nodes", { cluster: "c", dc: "dc2", rack: "r9" });
    expect(extra).toMatchObject({ status: 201, json: { id: "c-dc2-r9-1", host: "127.1.1.6" } });
    expect(await localnodes(c.nodes[1]!.url)).toEqual([...DC1.slice(1), "127.1.1.1"]);
    expect(await localnodes(c.nodes[1]!.url, "?dc=dc2")).toEqual([...DC2, "127.1.1.6"]);
    const described = (await control("GET", "/clusters/c")).json as ClusterJson;
    expect(described.nodes.map((node) => node.id)).toContain("c-dc2-r9-1");
  });

  it("writes host:port entries when asked to", async () => {
    const c = await cluster({ addressFormat: "host:port" });
    expect(c.addressFormat).toBe("host:port");
    expect(await localnodes(c.nodes[3]!.url)).toEqual(DC2.map((ip) => `${ip}:${c.port}`));
  });

  it("stays an ordinary data request outside GET on a cluster node", async () => {
    const c = await cluster();
    const res = await fetch(`${c.nodes[0]!.url}/localnodes?dc=dc2`, { method: "POST" });
    expect(await res.json()).toMatchObject({ method: "POST", path: "/localnodes" });
  });
});

describe("discovery faults", () => {
  async function faulty(discovery: string): Promise<{ asker: string; res: Response }> {
    const c = await cluster({ name: "c" });
    const set = await control("POST", "/nodes/c-dc1-r1-1/behaviour", { discovery });
    expect(set).toMatchObject({ status: 200, json: { discovery } });
    const res = await fetch(`${c.nodes[0]!.url}/localnodes`);
    expect(res.headers.get("content-type")).toBe("application/json");
    // Only the faulty node misbehaves.
    expect(await localnodes(c.nodes[1]!.url)).toEqual(DC1);
    return { asker: c.nodes[0]!.url, res };
  }

  it("garbage answers 200 with a body that is not JSON", async () => {
    const { res } = await faulty("garbage");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
  });

  it("object answers 200 with a JSON object", async () => {
    const { res } = await faulty("object");
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toBeTypeOf("object");
    expect(Array.isArray(body)).toBe(false);
  });

  it("bad-entries answers 200 with an array holding non-addresses and numbers", async () => {
    const { res } = await faulty("bad-entries");
    expect(res.status).toBe(200);
    const body = (await res.json()) as unknown[];
    expect(body).toEqual(expect.arrayContaining([...DC1, "not-an-address", 9042]));
    expect(body.some((entry) => typeof entry === "number")).toBe(true);
  });

  it("hostile answers the live addresses plus ones a client must refuse", async () => {
    const { res } = await faulty("hostile");
    expect(res.status).toBe(200);
    const body = (await res.json()) as string[];
    expect(body).toEqual(expect.arrayContaining([...DC1, "169.254.169.254", "0x7f000001"]));
  });

  it("error answers 500", async () => {
    const { res, asker } = await faulty("error");
    expect(res.status).toBe(500);
    await control("POST", "/nodes/c-dc1-r1-1/behaviour", { discovery: "normal" });
    expect(await localnodes(asker)).toEqual(DC1);
  });

  it("hang never answers; stopping the node closes the connection", async () => {
    const c = await cluster({ name: "c" });
    await control("POST", "/nodes/c-dc1-r1-1/behaviour", { discovery: "hang" });
    const node = fleet().nodes.get("c-dc1-r1-1")!;
    const pending = outcome(fetch(`${c.nodes[0]!.url}/localnodes`));
    await waitFor(() => node.stats().localnodesRequests === 1);
    expect(node.stats().inHandshake).toBe(0);
    await control("POST", "/nodes/c-dc1-r1-1/stop");
    expect(await pending).toBeInstanceOf(TypeError);
  });

  it("rejects an unknown discovery value and keeps the old one", async () => {
    await cluster({ name: "c" });
    const bad = await control("POST", "/nodes/c-dc1-r1-1/behaviour", { discovery: "sideways" });
    expect(bad).toMatchObject({ status: 400, json: { error: expect.stringMatching(/discovery/) } });
    expect(fleet().nodes.get("c-dc1-r1-1")!.behaviour().discovery).toBe("normal");
  });
});

describe("accounting", () => {
  it("counts discovery apart from data requests", async () => {
    const c = await cluster({ name: "c" });
    const url = c.nodes[0]!.url;
    await (await fetch(`${url}/data`, { headers: { "x-request-id": "r1" } })).arrayBuffer();
    for (const query of ["", "?dc=dc2", "?dc=dc2", "?rack=r1&dc=dc1"]) {
      await localnodes(url, query);
    }
    const stats = await control("GET", "/nodes/c-dc1-r1-1/stats");
    expect(stats).toMatchObject({
      status: 200,
      json: {
        requests: 1,
        byMethod: { GET: 1 },
        byRequestId: { r1: 1 },
        inHandshake: 0,
        peakHandshakes: 1,
        localnodesRequests: 4,
        localnodesByQuery: { "": 1, "dc=dc2": 2, "rack=r1&dc=dc1": 1 },
      },
    });
    expect(await control("POST", "/nodes/c-dc1-r1-1/reset-stats")).toMatchObject({ status: 204 });
    expect(await control("GET", "/nodes/c-dc1-r1-1/stats")).toMatchObject({
      json: { requests: 0, localnodesRequests: 0, localnodesByQuery: {} },
    });
  });
});
