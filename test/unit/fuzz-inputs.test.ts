import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AddressPolicy, parseAllowEntry } from "../../src/balancer/address-policy.ts";
import { parseLocalNodes } from "../../src/balancer/localnodes.ts";
import { parseScopeHeader } from "../../src/balancer/scope.ts";
import { parseConfig } from "../../src/config/load.ts";
import { parseChanges, parseDigest, parseRoutesSince } from "../../src/sync/wire.ts";
import { decodeFrame, encodeFrame, FrameError } from "../../src/transport/frame.ts";
import { fuzzRuns, fuzzTimeout, reportFuzz } from "../fuzz/runs.ts";

// Every input surface a stranger can reach that is parsed in plain code, driven with generated
// and mutated inputs: nothing throws, and what is accepted is well-formed.
const runs = (base: number) => fuzzRuns(base, process.env.FUZZ_RUNS);

const validConfig = {
  services: [
    {
      name: "api",
      allow: ["10.0.0.0/8", "nodes.example"],
      egress: { kind: "vpc-network", binding: "FLEET" },
      nodes: [{ url: "http://10.0.0.1:8000", dc: "dc1", rack: "r1", weight: 2 }],
      discovery: { seeds: ["http://10.0.0.2:8000"], datacenters: ["dc2"] },
      scope: { dc: "dc1", allowHeader: true },
      retry: { maxAttempts: 3 },
    },
  ],
};

/** A JSON value with one of its leaves or keys replaced by something generated. */
function mutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, [...path, i]);
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    }
  };
  walk(base, []);
  return fc.tuple(fc.constantFrom(...paths), fc.jsonValue()).map(([path, replacement]) => {
    const copy = structuredClone(base) as Record<string | number, unknown>;
    if (path.length === 0) return replacement;
    let at: Record<string | number, unknown> = copy;
    for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
    at[path.at(-1) as string | number] = replacement;
    return copy;
  });
}

const policy: AddressPolicy = {
  egress: "vpc-network",
  allow: [parseAllowEntry("0.0.0.0/0") as AddressPolicy["allow"][0]],
};

describe("fuzz: plain-code input surfaces", { timeout: fuzzTimeout(process.env.FUZZ_RUNS) }, () => {
  it("config: parseConfig answers issues or a configuration, never throws", () => {
    const cases = runs(400);
    fc.assert(
      fc.property(fc.oneof(mutated(validConfig), fc.jsonValue(), fc.string()), (raw) => {
        const result = parseConfig(typeof raw === "string" ? raw : JSON.stringify(raw));
        if (!result.ok) {
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) expect(typeof issue.message).toBe("string");
        }
      }),
      { numRuns: cases },
    );
    reportFuzz("config", cases);
  });

  it("discovery answers: parseLocalNodes keeps only well-formed URLs, never throws", () => {
    const cases = runs(400);
    const entry = fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.domain(), fc.jsonValue());
    const body = fc.oneof(
      fc.string(),
      fc.array(entry).map((a) => JSON.stringify(a)),
    );
    fc.assert(
      fc.property(body, (text) => {
        const answer = parseLocalNodes(text, { scheme: "http", port: 80 }, policy);
        if (answer.ok) for (const url of answer.urls) expect(() => new URL(url)).not.toThrow();
      }),
      { numRuns: cases },
    );
    reportFuzz("discovery answers", cases);
  });

  it("peer bodies and answers: the wire parsers refuse or accept, never throw", () => {
    const cases = runs(400);
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string()), (value) => {
        for (const parse of [parseChanges, parseDigest, parseRoutesSince]) {
          const result = parse(typeof value === "string" ? value : JSON.stringify(value));
          if (!result.ok) expect(result.issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: cases },
    );
    reportFuzz("peer bodies", cases);
  });

  it("stream frames from nodes: decodeFrame throws only FrameError, and round-trips", () => {
    const cases = runs(1_000);
    const good = encodeFrame({
      kind: "result",
      id: 7,
      status: 200,
      contentType: "a/b",
      body: new Uint8Array(3),
    });
    const flips = fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          flips.map((f) => {
            const bytes = good.slice();
            for (const [at, value] of f) bytes[at] = value;
            return bytes;
          }),
        ),
        (bytes) => {
          try {
            const frame = decodeFrame(bytes);
            expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameError);
          }
        },
      ),
      { numRuns: cases },
    );
    reportFuzz("stream frames", cases);
  });

  it("scope headers: parseScopeHeader accepts only well-formed names, never throws", () => {
    const cases = runs(400);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (header) => {
        const parsed = parseScopeHeader(header);
        if (parsed.ok && parsed.scope.rack) expect(parsed.scope.dc).toBeDefined();
      }),
      { numRuns: cases },
    );
    reportFuzz("scope headers", cases);
  });
});
