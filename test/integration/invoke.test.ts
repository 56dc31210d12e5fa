import { describe, expect, it } from "vitest";
import {
  addNodes,
  gateway,
  nodeStats,
  serviceName,
  setBehaviour,
  setStreamFaults,
  type TestNode,
} from "./helpers.ts";

function invoker(nodes: TestNode[], overrides: Record<string, unknown> = {}) {
  const name = serviceName("inv");
  const fetchVia = gateway({
    services: [{ name, nodes: nodes.map((n) => ({ id: n.id, url: n.url })), ...overrides }],
  });
  return (body: string, init: RequestInit = {}) =>
    fetchVia(`/v1/invoke/${name}`, {
      method: "POST",
      body,
      headers: { "content-type": "text/plain" },
      ...init,
    });
}

const executions = async (nodes: TestNode[], body: string) =>
  (
    await Promise.all(nodes.map(async (n) => (await nodeStats(n)).invocationsByBody[body] ?? 0))
  ).reduce((a, b) => a + b, 0);

describe("POST /v1/invoke", () => {
  it("runs the invocation on a node and answers with its result", async () => {
    const nodes = await addNodes(2);
    const invoke = invoker(nodes);
    const response = await invoke("hello stream");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(await response.text()).toBe("hello stream");
    expect(nodes.map((n) => n.id)).toContain(response.headers.get("x-roundhouse-node"));
  });

  it("rotates invocations over the nodes and pipelines many on one stream", async () => {
    const nodes = await addNodes(2);
    const invoke = invoker(nodes);
    const bodies = Array.from({ length: 40 }, (_, i) => `sleep:30 #${i}`);
    const responses = await Promise.all(bodies.map((b) => invoke(b)));
    expect(responses.map((r) => r.status)).toEqual(bodies.map(() => 200));
    expect(await Promise.all(responses.map((r) => r.text()))).toEqual(bodies);
    const perNode = await Promise.all(nodes.map(async (n) => (await nodeStats(n)).invocations));
    expect(perNode).toEqual([20, 20]);
  });

  it.each([204, 205, 304])("passes a function's %i through, without a body", async (status) => {
    const nodes = await addNodes(1);
    const response = await invoker(nodes)(`status:${status}`);
    expect(response.status).toBe(status);
    expect(await response.text()).toBe("");
  });

  it("answers 415 before sending anything for a content-type the stream cannot carry", async () => {
    const nodes = await addNodes(1);
    const invoke = invoker(nodes);
    for (const contentType of [`text/plain; x=${"a".repeat(300)}`, "text/plain; name=\u00fc"]) {
      const response = await invoke("never sent", { headers: { "content-type": contentType } });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({
        type: "urn:roundhouse:problem:unsupported-media-type",
      });
    }
    expect(await executions(nodes, "never sent")).toBe(0);
  });

  it("answers 413 to a streamed payload over the limit that declares no length", async () => {
    const nodes = await addNodes(1);
    const invoke = invoker(nodes, { invoke: { maxPayloadBytes: 1_000 } });
    const body = new Blob([new Uint8Array(64 * 1024)]).stream();
    const response = await invoke("", { body });
    expect(response.status).toBe(413);
  });

  it("answers 502 with the node's message when the function fails", async () => {
    const invoke = invoker(await addNodes(1));
    const response = await invoke("fail:out of widgets");
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({
      type: "urn:roundhouse:problem:upstream-error",
      detail: "out of widgets",
    });
  });

  it("answers 504 when no result comes before the timeout", async () => {
    const invoke = invoker(await addNodes(1), { invoke: { timeoutMs: 150 } });
    const response = await invoke("sleep:2000");
    expect(response.status).toBe(504);
  });

  it("answers 400 for a function name the protocol cannot carry, sending nothing", async () => {
    const nodes = await addNodes(1);
    const name = serviceName("inv");
    const fetchVia = gateway({
      services: [{ name, nodes: nodes.map((n) => ({ id: n.id, url: n.url })) }],
    });
    for (const fn of ["-dash", "a%2Fb", "%C3%BC", "x".repeat(65), "a%20b"]) {
      const response = await fetchVia(`/v1/invoke/${name}/${fn}`, {
        method: "POST",
        body: "never sent",
      });
      expect(response.status, fn).toBe(400);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(await response.json()).toMatchObject({ title: "Invalid function name" });
    }
    expect(await executions(nodes, "never sent")).toBe(0);
  });

  it("answers 413 for a payload over the limit, and 404 for an unknown service", async () => {
    const invoke = invoker(await addNodes(1), { invoke: { maxPayloadBytes: 8 } });
    expect((await invoke("way too large")).status).toBe(413);
    expect(
      (await gateway({ services: [] })("/v1/invoke/nope", { method: "POST", body: "x" })).status,
    ).toBe(404);
  });

  it("sends to another node when one refuses the stream", async () => {
    const nodes = await addNodes(2);
    await setBehaviour(nodes[0]!, { mode: "refuse" });
    const invoke = invoker(nodes, { ejection: { consecutiveFailures: 100 } });
    for (let i = 0; i < 4; i++) {
      const response = await invoke(`refused ${i}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-roundhouse-node")).toBe(nodes[1]!.id);
    }
  });

  it("retries elsewhere when the stream closes before the ack, and never runs an acked invocation twice", async () => {
    const nodes = await addNodes(2);
    const invoke = invoker(nodes, { ejection: { consecutiveFailures: 100 } });
    await invoke("warm up a");
    await invoke("warm up b");
    // Only one node drops its stream before acking; whichever invocation meets it goes elsewhere.
    await setStreamFaults(nodes[0]!, { onInvoke: { nth: 1, action: "close-before-ack" } });
    for (const body of ["unacked one", "unacked two"]) {
      const response = await invoke(body);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(body);
      expect(await executions(nodes, body)).toBe(1);
    }

    await setStreamFaults(nodes[0]!, { onInvoke: { nth: 1, action: "close-after-ack" } });
    await setStreamFaults(nodes[1]!, { onInvoke: { nth: 1, action: "close-after-ack" } });
    const after = await invoke("acked then lost");
    expect(after.status).toBe(502);
    expect(await executions(nodes, "acked then lost")).toBeLessThanOrEqual(1);
    expect(after.headers.get("x-roundhouse-attempts")).toBe("1");
  });
});
