import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import parse from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import type { LiveNodes } from "../../src/durable/live-nodes/live-nodes.ts";
import { liveNodesOf } from "../../src/durable/stubs.ts";
import { addNodes, gateway, serviceName, setBehaviour } from "./helpers.ts";
import { AUTH } from "./peer-helpers.ts";

// What the scrape reports of ejections, health checks, drains and hedges, with the objects'
// alarms driven by hand. Service-wide counting across isolates is test/isolates/metrics.test.ts.

type Families = ReturnType<typeof parse>;

const value = (families: Families, name: string, labels: Record<string, string> = {}) =>
  (families.find((f) => f.name === name)?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value ?? 0), 0);

describe("GET /_gw/metrics", () => {
  it("reports ejections by reason, health checks, drains and membership", async () => {
    const nodes = await addNodes(3);
    const [sick, , drained] = nodes;
    const name = serviceName("scrape");
    const fetch = gateway({
      services: [
        {
          name,
          nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
          ejection: { consecutiveFailures: 1 },
          health: { path: "/health", intervalMs: 60_000 },
          retry: { backoffBaseMs: 0, backoffMaxMs: 0 },
          slowStartMs: 0,
        },
      ],
    });
    await setBehaviour(sick!, { mode: "fail", failStatus: 503 });
    for (let i = 0; i < 6; i++) await (await fetch(`/s/${name}/`)).body?.cancel();
    const drain = await fetch(`/_gw/admin/services/${name}/nodes/${drained!.id}/drain`, {
      method: "POST",
      headers: AUTH,
    });
    expect(drain.status).toBe(200);
    // A round of health checks, after the one the service's first traffic may have started:
    // in each round the failing node fails its probe and the other two pass.
    await runInDurableObject(liveNodesOf(env, name), (instance: LiveNodes) => instance.alarm());

    const response = await fetch("/_gw/metrics", { headers: AUTH });
    expect(response.status).toBe(200);
    const families = parse(await response.text());
    const svc = { service: name };
    expect(
      value(families, "roundhouse_ejections_total", { ...svc, reason: "consecutive_failures" }),
    ).toBe(1);
    expect(value(families, "roundhouse_ejections_active", svc)).toBe(1);
    const rounds = value(families, "roundhouse_health_checks_total", {
      ...svc,
      node: sick!.id,
      result: "fail",
    });
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(value(families, "roundhouse_health_checks_total", { ...svc, result: "pass" })).toBe(
      2 * rounds,
    );
    expect(value(families, "roundhouse_nodes_draining", svc)).toBe(1);
    expect(value(families, "roundhouse_membership_total", svc)).toBe(3);
    // Ejected and drained leave one node to serve.
    expect(value(families, "roundhouse_membership_healthy", svc)).toBe(1);
    expect(value(families, "roundhouse_requests_total", { ...svc, class: "2xx" })).toBe(6);
    expect(
      value(families, "roundhouse_attempts_total", { ...svc, node: sick!.id, outcome: "response" }),
    ).toBe(1);
  });

  it("needs the admin token when no metrics token is set", async () => {
    const fetch = gateway({ services: [] });
    const anonymous = await fetch("/_gw/metrics");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toContain("application/problem+json");
    expect(
      (await fetch("/_gw/metrics", { headers: { authorization: "Bearer wrong" } })).status,
    ).toBe(401);
    const ok = await fetch("/_gw/metrics", { headers: AUTH });
    expect(ok.status).toBe(200);
    expect(parse(await ok.text()).map((f) => f.name)).toEqual(["roundhouse_build_info"]);
  });
});
