import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AddressPolicy,
  checkNodeUrl,
  parseAllowEntry,
} from "../../src/balancer/address-policy.ts";
import { parseLocalNodes } from "../../src/balancer/localnodes.ts";

const rules = { scheme: "http", port: 8000 } as const;

function policyOf(egress: AddressPolicy["egress"], ...allow: string[]): AddressPolicy {
  return { egress, allow: allow.map((raw) => parseAllowEntry(raw) as AddressPolicy["allow"][0]) };
}

/** A private fleet behind a VPC Network binding. */
const vpc = policyOf("vpc-network", "10.0.0.0/8", "127.0.0.0/8", "::1", "internal");
const parse = (body: string) => parseLocalNodes(body, rules, vpc);

describe("parseLocalNodes", () => {
  it("combines bare IPs with the configured scheme and port", () => {
    expect(parse('["127.0.0.2","127.0.0.1"]')).toEqual({
      ok: true,
      urls: ["http://127.0.0.1:8000", "http://127.0.0.2:8000"],
      refused: [],
    });
  });

  it("accepts host:port, IPv6 and bracketed IPv6 entries", () => {
    expect(parse('["10.0.0.1:9042","db-1.internal:8043","::1","[0:0::1]:9000"]')).toEqual({
      ok: true,
      urls: [
        "http://10.0.0.1:9042",
        "http://[::1]:8000",
        "http://[::1]:9000",
        "http://db-1.internal:8043",
      ],
      refused: [],
    });
  });

  it("answers an empty list for an empty array (an unknown scope)", () => {
    expect(parse("[]")).toEqual({ ok: true, urls: [], refused: [] });
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
    ["a malformed IPv6 entry", '[":::"]'],
    ["a link-local entry", '["169.254.169.254"]'],
  ])("rejects an answer whose only entry is %s, without throwing", (_name, body) => {
    expect(parse(body).ok).toBe(false);
  });

  it("drops denied, disguised and unlisted entries with their reasons and keeps the rest", () => {
    const body = JSON.stringify([
      "10.0.0.7",
      "169.254.169.254",
      "0x7f000001",
      "127.1",
      "[::ffff:127.0.0.1]",
      "metadata.google.internal",
      "192.168.0.9",
      ":::",
      7,
      "[http://10.0.0.9]",
      "10.0.0.8:9000",
    ]);
    const answer = parse(body);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.urls).toEqual(["http://10.0.0.7:8000", "http://10.0.0.8:9000"]);
    expect(answer.refused.map((r) => r.entry)).toEqual([
      "169.254.169.254",
      "0x7f000001",
      "127.1",
      "[::ffff:127.0.0.1]",
      "metadata.google.internal",
      "192.168.0.9",
      ":::",
      "7",
      "[http://10.0.0.9]",
    ]);
    for (const { reason } of answer.refused) expect(reason.length).toBeGreaterThan(5);
  });

  it("bounds and escapes what a refused entry puts in its reason (finding 10 of #24)", () => {
    const host = `evil\ndiscovery: forged line ${"a".repeat(500_000)}`;
    for (const body of [
      JSON.stringify([host, "10.0.0.7"]),
      JSON.stringify([`${host}:80`]),
      JSON.stringify([`[${host}]`]),
    ]) {
      const answer = parse(body);
      const texts = answer.ok
        ? answer.refused.flatMap((r) => [r.entry, r.reason])
        : [answer.reason];
      expect(texts.length).toBeGreaterThan(0);
      for (const text of texts) {
        expect(text.length).toBeLessThan(2000);
        expect(text).not.toMatch(/[\n\r]/);
      }
    }
  });

  it("with internet egress drops IP entries other than loopback, saying why", () => {
    const answer = parseLocalNodes(
      '["203.0.113.4","127.0.0.3","node-1.example.com"]',
      rules,
      policyOf("internet", "127.0.0.0/8", "example.com"),
    );
    expect(answer).toMatchObject({
      ok: true,
      urls: ["http://127.0.0.3:8000", "http://node-1.example.com:8000"],
      refused: [{ entry: "203.0.113.4" }],
    });
    if (answer.ok) expect(answer.refused[0]?.reason).toMatch(/cannot fetch/);
  });

  it("accepts only entries whose URL passes the address policy", () => {
    const entry = fc.oneof(
      fc.ipV4(),
      fc.ipV6().map((ip) => `[${ip}]`),
      fc.domain(),
      fc.ipV4Extended(),
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 70_000 })).map(([ip, port]) => `${ip}:${port}`),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
        const answer = parse(JSON.stringify(entries));
        if (!answer.ok) return;
        for (const url of answer.urls) expect(checkNodeUrl(url, vpc).ok).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws, whatever the body", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (body) => {
        const answer = parse(body);
        if (answer.ok) for (const url of answer.urls) expect(new URL(url).port).not.toBe("");
      }),
    );
  });
});
