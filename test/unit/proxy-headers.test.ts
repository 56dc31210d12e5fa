import { describe, expect, it } from "vitest";
import {
  endToEndPairs,
  type HeaderPair,
  headerValue,
  upstreamHeaders,
  withProvenance,
} from "../../src/dispatch/headers.ts";

const names = (pairs: readonly HeaderPair[]) => pairs.map(([name]) => name);

describe("endToEndPairs", () => {
  it("drops hop-by-hop lines, proxy-* lines and what Connection names, keeping order and repeats", () => {
    const pairs: HeaderPair[] = [
      ["connection", "X-Secret, keep-alive"],
      ["x-secret", "1"],
      ["set-cookie", "a=1"],
      ["keep-alive", "timeout=5"],
      ["transfer-encoding", "chunked"],
      ["proxy-anything", "p"],
      ["connection", "x-other"],
      ["x-other", "2"],
      ["set-cookie", "b=2"],
      ["content-type", "text/plain"],
    ];
    expect(endToEndPairs(pairs)).toEqual([
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["content-type", "text/plain"],
    ]);
  });

  it("keeps every line when there is nothing hop-by-hop", () => {
    const pairs: HeaderPair[] = [
      ["accept", "*/*"],
      ["x-kept", "yes"],
    ];
    expect(endToEndPairs(pairs)).toEqual(pairs);
  });
});

describe("headerValue", () => {
  it("joins repeated lines as Headers.get does, and answers null for a missing one", () => {
    const pairs: HeaderPair[] = [
      ["x-forwarded-for", "10.0.0.1"],
      ["x-forwarded-for", "10.0.0.2"],
    ];
    expect(headerValue(pairs, "x-forwarded-for")).toBe(new Headers(pairs).get("x-forwarded-for"));
    expect(headerValue(pairs, "host")).toBeNull();
  });
});

describe("upstreamHeaders", () => {
  const hop = { ip: "192.0.2.7", proto: "https", host: "gw.example" };

  it("extends the client's X-Forwarded-For chain and replaces the other forwarding headers", () => {
    const out = upstreamHeaders(
      [
        ["host", "gw.example"],
        ["x-forwarded-for", "10.0.0.1"],
        ["x-forwarded-proto", "spoofed"],
        ["x-request-id", "old"],
        ["accept", "*/*"],
      ],
      hop,
      "req-1",
    );
    expect(out).toEqual([
      ["accept", "*/*"],
      ["x-forwarded-for", "10.0.0.1, 192.0.2.7"],
      ["x-forwarded-proto", "https"],
      ["x-forwarded-host", "gw.example"],
      ["x-request-id", "req-1"],
    ]);
  });

  it("passes the X-Forwarded-For chain on untouched when the client's address is unknown", () => {
    const out = upstreamHeaders([["x-forwarded-for", "10.0.0.1"]], { ...hop, ip: null }, "r");
    expect(headerValue(out, "x-forwarded-for")).toBe("10.0.0.1");
    expect(names(out)).not.toContain("host");
  });
});

describe("withProvenance", () => {
  it("cleans the node's headers and sets the gateway's own, replacing the node's copies", () => {
    const out = withProvenance(
      [
        ["content-length", "2"],
        ["x-roundhouse-node", "forged"],
        ["x-request-id", "node-made"],
        ["connection", "close"],
      ],
      "node-1",
      2,
      "req-9",
    );
    expect(out).toEqual([
      ["content-length", "2"],
      ["x-roundhouse-node", "node-1"],
      ["x-roundhouse-attempts", "2"],
      ["x-request-id", "req-9"],
    ]);
  });
});
