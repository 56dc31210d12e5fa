import parse from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import type { BackendNode } from "../../backend/node-types.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";

// Two gateway isolates sharing the Durable Objects: the scrape shows service-wide figures
// whichever isolate answers it, checked with a Prometheus text-format parser.

const METRICS = { authorization: "Bearer isolates-metrics-token-0123456789abcdef" };
const ADMIN = { authorization: "Bearer isolates-admin-token-0123456789abcdef" };

let fleet: Fleet;
let nodes: BackendNode[];
let gateways: GatewayIsolates;

beforeAll(async () => {
  fleet = await startFleet({ host: "127.0.0.1" });
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await fleet.addNode());
  await nodes[2]?.setBehaviour({ mode: "fail", failStatus: 503 });
  gateways = await startGatewayIsolates(2, {
    services: [
      {
        name: "metered",
        nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
        allow: ["127.0.0.0/8"],
        slowStartMs: 0,
        retry: { backoffBaseMs: 0, backoffMaxMs: 0 },
        ejection: { consecutiveFailures: 1_000 },
      },
    ],
  });
}, 60_000);

afterAll(async () => {
  await gateways?.close();
  await fleet?.close();
});

async function scrape(isolate: number) {
  const response = await gateways.fetch(isolate, "/_gw/metrics", { headers: METRICS });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return parse(await response.text());
}

const sum = (
  families: ReturnType<typeof parse>,
  name: string,
  match: Record<string, string> = {},
) =>
  (families.find((f) => f.name === name)?.metrics ?? [])
    .filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v))
    .reduce((total, m) => total + Number(m.value ?? m.count ?? 0), 0);

describe("GET /_gw/metrics across isolates", () => {
  it("counts every isolate's requests once, whichever isolate is scraped", async () => {
    const sent = [14, 7];
    for (const [isolate, count] of sent.entries()) {
      for (let i = 0; i < count; i++) {
        const response = await gateways.fetch(isolate, "/s/metered/");
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
    }
    const total = sent[0]! + sent[1]!;
    // Each isolate ships its counts within a second of its last request.
    const deadline = Date.now() + 15_000;
    let seen: number[] = [];
    while (Date.now() < deadline) {
      seen = await Promise.all(
        [0, 1].map(async (i) => sum(await scrape(i), "roundhouse_requests_total")),
      );
      if (seen.every((n) => n === total)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen).toEqual([total, total]);
    const families = await scrape(1);
    expect(sum(families, "roundhouse_requests_total", { service: "metered", class: "2xx" })).toBe(
      total,
    );
    // The failing node's attempts were retried elsewhere: each answered request had one success.
    expect(sum(families, "roundhouse_attempts_total", { outcome: "response" })).toBe(
      total + sum(families, "roundhouse_retries_total"),
    );
    expect(sum(families, "roundhouse_retries_total")).toBeGreaterThan(0);
    const handshakes = families.find((f) => f.name === "roundhouse_handshake_seconds");
    expect(handshakes?.type).toBe("HISTOGRAM");
    expect(sum(families, "roundhouse_membership_total", { service: "metered" })).toBe(3);
    expect(
      families.find((f) => f.name === "roundhouse_build_info")?.metrics[0]?.labels?.version,
    ).toBe("0.1.0");
  });

  it("answers 401 without the metrics token, and to the admin token once a metrics token is set", async () => {
    expect((await gateways.fetch(0, "/_gw/metrics")).status).toBe(401);
    const admin = await gateways.fetch(0, "/_gw/metrics", { headers: ADMIN });
    expect(admin.status).toBe(401);
    expect(admin.headers.get("content-type")).toContain("application/problem+json");
  });
});
