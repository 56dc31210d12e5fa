import { afterEach, describe, expect, it, vi } from "vitest";
import { addNodes, gateway, serviceName } from "./helpers.ts";

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
      services: [{ name, nodes: [{ id: node!.id, url: node!.url }] }],
    });
    const lines = await linesOf(async () => {
      await (await fetch(`/s/${name}/a`, { headers: { "x-request-id": "log-1" } })).text();
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
  });

  it("names the problem when no node answered, and samples by the configured rate", async () => {
    const name = serviceName("logged");
    const fetch = (rate: number) =>
      gateway({ logging: { requestSampleRate: rate }, services: [{ name, nodes: [] }] });
    const sampled = await linesOf(async () => {
      await (await fetch(1)(`/s/${name}/`)).text();
    });
    expect(sampled).toEqual([
      expect.objectContaining({
        service: name,
        node: null,
        status: 503,
        outcome: "no-node-available",
      }),
    ]);
    const none = await linesOf(async () => {
      for (let i = 0; i < 5; i++) await (await fetch(0)(`/s/${name}/`)).text();
    });
    expect(none).toEqual([]);
  });
});
