import { afterEach, describe, expect, it, vi } from "vitest";
import { addNodes, gateway, serviceName, setBehaviour } from "./helpers.ts";

afterEach(() => vi.restoreAllMocks());

/** The JSON lines written to console.log while `run` runs. */
async function linesOf(run: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((text: unknown) => {
    try {
      lines.push(JSON.parse(String(text)) as Record<string, unknown>);
    } catch {
      // Not one of ours.
    }
  });
  await run();
  return lines;
}

describe("request lines", () => {
  it("writes one line per proxied request with its node, attempts, status, time and outcome", async () => {
    const [node] = await addNodes(1);
    const name = serviceName("logged");
    const fetch = gateway({
      logging: { level: "info", requestSampleRate: 1 },
      // The default: the answers carry no provenance, and the lines still name the node.
      services: [{ name, provenance: "none", nodes: [{ id: node!.id, url: node!.url }] }],
    });
    const lines = await linesOf(async () => {
      const proxied = await fetch(`/s/${name}/a`, { headers: { "x-request-id": "log-1" } });
      expect(proxied.headers.get("x-roundhouse-node")).toBeNull();
      await proxied.text();
      await (await fetch("/s/nope/")).text();
      await (await fetch(`/v1/invoke/${name}`, { method: "POST", body: "x" })).text();
    });
    const requests = lines.filter((l) => l.kind === "request" || l.kind === "invocation");
    expect(requests[0]).toMatchObject({
      level: "info",
      kind: "request",
      requestId: "log-1",
      service: name,
      node: node!.id,
      attempts: 1,
      status: 200,
      outcome: "answered",
    });
    expect(typeof requests[0]?.ms).toBe("number");
    // An unknown service is no dispatch: no line. The invocation gets its own.
    expect(requests.map((l) => l.kind)).toEqual(["request", "invocation"]);
    expect(requests[1]).toMatchObject({ node: node!.id, attempts: 1, outcome: "answered" });
  });

  it("names the problem when no node answered, and writes it at any sample rate", async () => {
    const name = serviceName("logged");
    const fetch = gateway({ logging: { requestSampleRate: 0 }, services: [{ name, nodes: [] }] });
    const lines = await linesOf(async () => {
      await (await fetch(`/s/${name}/`)).text();
    });
    expect(lines).toEqual([
      expect.objectContaining({
        service: name,
        node: null,
        status: 503,
        outcome: "no-node-available",
      }),
    ]);
  });

  it("keeps the runtime's words for a failed connection in the line, out of the answer", async () => {
    const name = serviceName("logged");
    const fetch = gateway({
      logging: { requestSampleRate: 0 },
      // Nothing listens on the discard port; a POST is not retried.
      services: [{ name, nodes: [{ id: "gone", url: "http://127.0.0.1:9" }] }],
    });
    let detail = "";
    const lines = await linesOf(async () => {
      const answer = await fetch(`/s/${name}/`, { method: "POST", body: "x" });
      detail = ((await answer.json()) as { detail: string }).detail;
    });
    expect(detail).toBe("the node's connection failed");
    const line = lines.find((l) => l.kind === "request");
    expect(line).toMatchObject({ status: 502, outcome: "upstream-error" });
    expect(typeof line?.cause).toBe("string");
    expect(line?.cause).not.toBe(detail);
    expect(String(line?.cause).length).toBeGreaterThan(0);
  });

  it("samples plain successes by the rate, and always writes a retried one", async () => {
    const [good, bad] = await addNodes(2);
    await setBehaviour(bad!, { mode: "refuse" });
    const name = serviceName("logged");
    const fetch = (rate: number) =>
      gateway({
        logging: { requestSampleRate: rate },
        services: [
          {
            name,
            provenance: "none",
            // A long consecutive-failure bar keeps the refusing node in rotation throughout.
            ejection: { consecutiveFailures: 1000 },
            nodes: [
              { id: good!.id, url: good!.url },
              { id: bad!.id, url: bad!.url },
            ],
          },
        ],
      });
    const lines = (
      await linesOf(async () => {
        const none = fetch(0);
        for (let i = 0; i < 6; i++) await (await none(`/s/${name}/`)).text();
      })
    ).filter((l) => l.kind === "request");
    // Every request was answered by the good node; the ones whose turn was the refusing node's
    // took two attempts, and only those have lines.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.attempts === 2 && l.node === good!.id)).toBe(true);
    const all = (
      await linesOf(async () => {
        const every = fetch(1);
        for (let i = 0; i < 4; i++) await (await every(`/s/${name}/`)).text();
      })
    ).filter((l) => l.kind === "request");
    expect(all).toHaveLength(4);
  });
});
