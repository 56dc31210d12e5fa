import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";

const paths = (raw: unknown) => {
  const result = parseConfig(raw);
  return result.ok ? [] : result.issues.map((i) => i.path);
};

describe("parseConfig", () => {
  it("fills in documented defaults and resolves node ids", () => {
    const result = parseConfig(
      JSON.stringify({ services: [{ name: "echo", nodes: [{ url: "http://127.0.0.1:9101" }] }] }),
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
  });

  it("names the path of every bad field", () => {
    expect(
      paths({
        services: [
          { name: "Bad Name", nodes: [] },
          {
            name: "ok",
            nodes: [{ url: "ftp://x" }, { url: "http://a", weight: 0 }],
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
        services: [{ name: "a", nodes: [{ url: "http://h:1" }, { url: "http://h:1/other" }] }],
      }),
    ).toEqual(["services[0].nodes[1].id"]);
  });

  it("rejects a URL with a query, and inconsistent bounds", () => {
    expect(paths({ services: [{ name: "a", nodes: [{ url: "http://h:1/?q=1" }] }] })).toEqual([
      "services[0].nodes[0].url",
    ]);
    expect(
      paths({ services: [{ name: "a", retry: { backoffBaseMs: 100, backoffMaxMs: 10 } }] }),
    ).toEqual(["services[0].retry.backoffMaxMs"]);
  });

  it("reports unparsable JSON and a missing value", () => {
    expect(paths("{nope")).toEqual(["ROUNDHOUSE_CONFIG"]);
    expect(paths(undefined)).toEqual(["ROUNDHOUSE_CONFIG"]);
  });

  it("accepts the config as an object (a TOML table var)", () => {
    expect(parseConfig({ services: [] }).ok).toBe(true);
  });
});
