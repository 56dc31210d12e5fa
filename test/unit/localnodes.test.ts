import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLocalNodes } from "../../src/balancer/localnodes.ts";

const rules = { scheme: "http", port: 8000 } as const;

describe("parseLocalNodes", () => {
  it("combines bare IPs with the configured scheme and port", () => {
    expect(parseLocalNodes('["127.0.0.2","127.0.0.1"]', rules)).toEqual({
      ok: true,
      urls: ["http://127.0.0.1:8000", "http://127.0.0.2:8000"],
    });
  });

  it("accepts host:port, IPv6 and bracketed IPv6 entries", () => {
    expect(
      parseLocalNodes('["10.0.0.1:9042","db-1.internal:8043","::1","[fe80::1]:9000"]', rules),
    ).toEqual({
      ok: true,
      urls: [
        "http://10.0.0.1:9042",
        "http://[::1]:8000",
        "http://[fe80::1]:9000",
        "http://db-1.internal:8043",
      ],
    });
  });

  it("answers an empty list for an empty array (an unknown scope)", () => {
    expect(parseLocalNodes("[]", rules)).toEqual({ ok: true, urls: [] });
  });

  it.each([
    ["not JSON", "<html>oops"],
    ["an object", '{"nodes":[]}'],
    ["a number entry", "[1]"],
    ["a URL entry", '["http://10.0.0.1"]'],
    ["a path", '["10.0.0.1/x"]'],
    ["a bad port", '["10.0.0.1:99999"]'],
    ["an empty entry", '[""]'],
    ["an out-of-range IP", '["300.1.1.1"]'],
    ["a credential", '["u@10.0.0.1"]'],
  ])("rejects %s", (_name, body) => {
    expect(parseLocalNodes(body, rules).ok).toBe(false);
  });

  it("never throws, whatever the body", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (body) => {
        const answer = parseLocalNodes(body, rules);
        if (answer.ok) for (const url of answer.urls) expect(new URL(url).port).not.toBe("");
      }),
    );
  });
});
