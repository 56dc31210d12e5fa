import { describe, expect, it } from "vitest";
import {
  inScope,
  parseScopeHeader,
  preferredScope,
  type ScopePolicy,
  scopeChain,
  scopeKey,
  scopeQuery,
} from "../../src/balancer/scope.ts";

const policy: ScopePolicy = {
  dc: "eu",
  rack: "r1",
  fallback: ["rack", "dc", "cluster"],
  allowHeader: true,
  dcByContinent: { NA: "us" },
  dcByColo: { SIN: "ap" },
};

describe("scope", () => {
  it("builds the fallback chain rack → dc → cluster from a preference", () => {
    expect(scopeChain({ dc: "eu", rack: "r1" }, policy.fallback).map(scopeKey)).toEqual([
      "rack:eu/r1",
      "dc:eu",
      "cluster",
    ]);
    expect(scopeChain({ dc: "eu" }, policy.fallback).map(scopeKey)).toEqual(["dc:eu", "cluster"]);
    expect(scopeChain({}, policy.fallback).map(scopeKey)).toEqual(["cluster"]);
    expect(scopeChain({ dc: "eu", rack: "r1" }, ["rack"]).map(scopeKey)).toEqual(["rack:eu/r1"]);
    expect(scopeChain({}, ["rack", "dc"]).map(scopeKey)).toEqual(["cluster"]);
  });

  it("asks /localnodes for a level with dc and rack parameters", () => {
    expect(scopeQuery({ kind: "rack", dc: "eu west", rack: "r1" })).toBe("?dc=eu%20west&rack=r1");
    expect(scopeQuery({ kind: "dc", dc: "eu" })).toBe("?dc=eu");
    expect(scopeQuery({ kind: "cluster" })).toBe("");
  });

  it("places labelled nodes in levels", () => {
    expect(inScope({ dc: "eu", rack: "r1" }, { kind: "rack", dc: "eu", rack: "r1" })).toBe(true);
    expect(inScope({ dc: "eu", rack: "r2" }, { kind: "rack", dc: "eu", rack: "r1" })).toBe(false);
    expect(inScope({ dc: "eu" }, { kind: "dc", dc: "eu" })).toBe(true);
    expect(inScope({}, { kind: "dc", dc: "eu" })).toBe(false);
    expect(inScope({}, { kind: "cluster" })).toBe(true);
  });

  it("parses the scope header strictly", () => {
    expect(parseScopeHeader("dc=eu;rack=r2")).toEqual({
      ok: true,
      scope: { dc: "eu", rack: "r2" },
    });
    expect(parseScopeHeader(" dc=us ")).toEqual({ ok: true, scope: { dc: "us" } });
    for (const bad of ["rack=r1", "dc=", "zone=a", "dc=a;dc=b", "dc=a=b", "dc=a b", ""]) {
      expect(parseScopeHeader(bad).ok, bad).toBe(false);
    }
  });

  it("prefers the request's header, then colo, then continent, then the config", () => {
    expect(preferredScope(policy, { colo: "SIN", continent: "NA" }, { dc: "x" })).toEqual({
      dc: "x",
    });
    expect(preferredScope(policy, { colo: "SIN", continent: "NA" }, undefined)).toEqual({
      dc: "ap",
    });
    expect(preferredScope(policy, { colo: "AMS", continent: "NA" }, undefined)).toEqual({
      dc: "us",
    });
    expect(preferredScope(policy, { colo: "AMS", continent: "EU" }, undefined)).toEqual({
      dc: "eu",
      rack: "r1",
    });
    expect(
      preferredScope({ ...policy, dcByContinent: { EU: "eu" } }, { continent: "EU" }, undefined),
    ).toEqual({
      dc: "eu",
      rack: "r1",
    });
  });
});
