import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";

const paths = (raw: unknown) => {
  const result = parseConfig(raw);
  return result.ok ? [] : result.issues.map((i) => i.path);
};

describe("parseConfig", () => {
  it("fills in documented defaults and resolves node ids", () => {
    const result = parseConfig(
      JSON.stringify({
        services: [
          { name: "echo", allow: ["127.0.0.0/8"], nodes: [{ url: "http://127.0.0.1:9101" }] },
        ],
      }),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const echo = result.services.get("echo");
    expect(echo?.nodes[0]).toMatchObject({ id: "127.0.0.1:9101", weight: 1 });
    expect(echo?.retry).toMatchObject({
      maxAttempts: 3,
      perTryTimeoutMs: 5_000,
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    });
    expect(echo?.gate.limit).toBe(64);
    expect(echo?.lockScope).toBe("node");
    expect(echo?.ejection).toMatchObject({
      consecutiveFailures: 5,
      baseMs: 30_000,
      maxMs: 300_000,
    });
    expect(echo?.rotation.leaseSize).toBe(32);
    expect(echo?.egress).toEqual({ kind: "internet" });
    expect(echo?.invoke?.timeoutMs).toBe(10_000);
  });

  it("names the path of every bad field", () => {
    expect(
      paths({
        services: [
          { name: "Bad Name", nodes: [] },
          {
            name: "ok",
            nodes: [{ url: "ftp://x" }, { url: "http://a.example", weight: 0 }],
            policy: "random",
          },
        ],
      }),
    ).toEqual([
      "services[0].name",
      "services[1].nodes[0].url",
      "services[1].nodes[1].weight",
      "services[1].policy",
    ]);
  });

  it("rejects unknown fields rather than ignoring a typo", () => {
    expect(paths({ services: [{ name: "a", retry: { maxAtempts: 2 } }] })).toEqual([
      "services[0].retry",
    ]);
  });

  it("rejects duplicate services and duplicate node ids", () => {
    expect(paths({ services: [{ name: "a" }, { name: "a" }] })).toEqual(["services[1].name"]);
    expect(
      paths({
        services: [
          { name: "a", nodes: [{ url: "http://h.example:1" }, { url: "http://h.example:1/o" }] },
        ],
      }),
    ).toEqual(["services[0].nodes[1].id"]);
  });

  it("rejects a URL with a query, and inconsistent bounds", () => {
    expect(
      paths({ services: [{ name: "a", nodes: [{ url: "http://h.example:1/?q=1" }] }] }),
    ).toEqual(["services[0].nodes[0].url"]);
    expect(
      paths({ services: [{ name: "a", retry: { backoffBaseMs: 100, backoffMaxMs: 10 } }] }),
    ).toEqual(["services[0].retry.backoffMaxMs"]);
  });

  it("rejects a URL ending in ? or #, which would push the client's path into the query", () => {
    for (const url of ["http://h.example:1/?", "http://h.example:1/#", "http://h.example?"]) {
      expect(paths({ services: [{ name: "a", nodes: [{ url }] }] })).toEqual([
        "services[0].nodes[0].url",
      ]);
    }
  });

  it("refuses at load an affinity cookie that would fail at run time (finding 13 of #24)", () => {
    const affinity = (over: Record<string, unknown>) =>
      paths({
        services: [
          {
            name: "a",
            allow: ["127.0.0.0/8"],
            nodes: [{ url: "http://127.0.0.1:9101" }],
            affinity: over,
          },
        ],
      });
    expect(affinity({})).toEqual([]);
    expect(affinity({ cookie: "__Host-node" })).toEqual([]);
    expect(affinity({ cookie: "__Host-node", path: "/s/a" })).toEqual([
      "services[0].affinity.path",
    ]);
    expect(affinity({ cookie: "__Secure-node", secure: false })).toEqual([
      "services[0].affinity.secure",
    ]);
    for (const secret of ["ADMIN_TOKEN", "PEER_SECRET", "METRICS_TOKEN"]) {
      expect(affinity({ secret })).toEqual(["services[0].affinity.secret"]);
    }
  });

  it("applies the address policy to configured nodes and seeds, naming the field", () => {
    const issues = (service: Record<string, unknown>) => {
      const result = parseConfig({ services: [{ name: "a", ...service }] });
      return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(issues({ nodes: [{ url: "http://127.0.0.1:1" }] })).toEqual([
      expect.stringMatching(/^services\[0\]\.nodes\[0\]\.url: .*loopback.*allow/),
    ]);
    expect(issues({ nodes: [{ url: "http://203.0.113.9:80" }] })).toEqual([
      expect.stringMatching(/nodes\[0\]\.url: .*deployed Worker cannot fetch/),
    ]);
    expect(issues({ nodes: [{ url: "http://0x7f000001:80" }], allow: ["127.0.0.0/8"] })).toEqual([
      expect.stringMatching(/nodes\[0\]\.url: .*disguised/),
    ]);
    expect(issues({ nodes: [{ url: "http://169.254.169.254" }], allow: ["0.0.0.0/0"] })).toEqual([
      expect.stringMatching(/link-local/),
    ]);
    expect(issues({ discovery: { seeds: ["http://metadata.google.internal/"] } })).toEqual([
      expect.stringMatching(/^services\[0\]\.discovery\.seeds\[0\]: .*metadata/),
    ]);
    expect(issues({ nodes: [{ url: "https://api.example.com" }] })).toEqual([]);
    expect(issues({ allow: ["10.0.0.0/33"] })).toEqual([
      expect.stringMatching(/^services\[0\]\.allow\[0\]/),
    ]);
  });

  it("takes private IP nodes through a VPC Network binding when allow lists them", () => {
    const vpc = { egress: { kind: "vpc-network", binding: "FLEET" }, allow: ["10.0.0.0/8"] };
    expect(
      paths({ services: [{ name: "a", ...vpc, nodes: [{ url: "http://10.1.2.3:80" }] }] }),
    ).toEqual([]);
    const loaded = parseConfig({ services: [{ name: "a", ...vpc }] });
    expect(loaded.ok && loaded.services.get("a")?.invoke).toBeUndefined();
    expect(paths({ services: [{ name: "a", ...vpc, invoke: {} }] })).toEqual([
      "services[0].invoke",
    ]);
    expect(paths({ services: [{ name: "a", egress: { kind: "vpc-network" } }] })).toEqual([
      "services[0].egress.binding",
    ]);
  });

  it("refuses a VPC Service binding for several nodes or discovery", () => {
    const egress = { kind: "vpc-service", binding: "API" };
    const nodes = [{ url: "https://a.internal" }, { url: "https://b.internal" }];
    expect(paths({ services: [{ name: "a", egress, nodes }] })).toEqual(["services[0].egress"]);
    expect(paths({ services: [{ name: "a", egress, nodes: nodes.slice(0, 1) }] })).toEqual([]);
  });

  it("needs discovery's staleAfterMs above its idle interval", () => {
    const discovery = {
      seeds: ["https://seed.example"],
      idleIntervalMs: 60_000,
      staleAfterMs: 30_000,
    };
    expect(paths({ services: [{ name: "a", discovery }] })).toEqual([
      "services[0].discovery.staleAfterMs",
    ]);
  });

  it("reports a node URL that does not parse instead of throwing (found by the fuzz suite)", () => {
    expect(paths({ services: [{ name: "a", nodes: [{ url: "" }] }] })).toEqual([
      "services[0].nodes[0].url",
    ]);
  });

  it("needs https for peers, except on loopback", () => {
    const peers = (url: string) =>
      paths({ gatewayId: "a", peers: [{ name: "b", url }], services: [] });
    expect(peers("http://peer.example.com")).toEqual(["peers[0].url"]);
    expect(peers("https://peer.example.com")).toEqual([]);
    expect(peers("http://127.0.0.1:8787")).toEqual([]);
  });

  it("reports unparsable JSON and a missing value", () => {
    expect(paths("{nope")).toEqual(["ROUNDHOUSE_CONFIG"]);
    expect(paths(undefined)).toEqual(["ROUNDHOUSE_CONFIG"]);
  });

  it("accepts the config as an object (a TOML table var)", () => {
    expect(parseConfig({ services: [] }).ok).toBe(true);
  });
});
