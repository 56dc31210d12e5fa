import { describe, expect, it } from "vitest";
import {
  acceptsCoding,
  answerNeedsCleaning,
  droppedAnswerNames,
  hopByHopNames,
  setsGatewayCookie,
  stampAnswer,
  upstreamHeaders,
} from "../../src/dispatch/headers.ts";

describe("hopByHopNames", () => {
  it("names hop-by-hop lines, proxy-* lines and what Connection names", () => {
    const headers = new Headers([
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
    ]);
    expect(hopByHopNames(headers).sort()).toEqual([
      "connection",
      "keep-alive",
      "proxy-anything",
      "transfer-encoding",
      "x-other",
      "x-secret",
    ]);
  });

  it("names nothing when there is nothing hop-by-hop", () => {
    expect(hopByHopNames(new Headers({ accept: "*/*", "x-kept": "yes" }))).toEqual([]);
  });
});

describe("upstreamHeaders", () => {
  const hop = { ip: "192.0.2.7", proto: "https", host: "gw.example" };

  it("extends the client's X-Forwarded-For chain and replaces the other forwarding headers", () => {
    const incoming = new Headers([
      ["host", "gw.example"],
      ["x-forwarded-for", "10.0.0.1"],
      ["x-forwarded-proto", "spoofed"],
      ["x-request-id", "old"],
      ["x-roundhouse-scope", "dc=eu"],
      ["connection", "close"],
      ["accept", "*/*"],
    ]);
    const out = upstreamHeaders(incoming, hop, "req-1");
    expect([...out]).toEqual([
      ["accept", "*/*"],
      ["accept-encoding", "identity"],
      ["x-forwarded-for", "10.0.0.1, 192.0.2.7"],
      ["x-forwarded-host", "gw.example"],
      ["x-forwarded-proto", "https"],
      ["x-request-id", "req-1"],
    ]);
    // The client's headers are copied, never edited.
    expect(incoming.get("x-roundhouse-scope")).toBe("dc=eu");
  });

  it("passes the X-Forwarded-For chain on untouched when the client's address is unknown", () => {
    const incoming = new Headers([
      ["x-forwarded-for", "10.0.0.1"],
      ["x-forwarded-for", "10.0.0.2"],
      ["host", "gw.example"],
    ]);
    const out = upstreamHeaders(incoming, { ...hop, ip: null }, "r");
    expect(out.get("x-forwarded-for")).toBe("10.0.0.1, 10.0.0.2");
    expect(out.has("host")).toBe(false);
  });
});

describe("acceptsCoding", () => {
  it.each([
    ["gzip", true],
    ["br, gzip", true],
    ["gzip, deflate, br, zstd", true],
    ["*", true],
    ["identity;q=1, gzip;q=0.5", true],
    ["gzip;q=0, br", true],
    ["gzip;q=0.001", true],
    ["", false],
    ["identity", false],
    [" IDENTITY ", false],
    ["gzip;q=0", false],
    ["gzip; q=0.000", false],
    ["*;q=0, identity", false],
    [",,", false],
  ])("%j accepts a coding: %s", (value, expected) => {
    expect(acceptsCoding(value)).toBe(expected);
  });

  it("forwards the client's own value when the platform replaced the header", () => {
    const incoming = new Headers([["accept-encoding", "br, gzip"]]);
    const hop = { ip: null, proto: "https", host: "gw.example" };
    const upstream = (acceptEncoding?: string) =>
      upstreamHeaders(incoming, { ...hop, acceptEncoding }, "r").get("accept-encoding");
    expect(upstream(undefined)).toBe("br, gzip");
    expect(upstream("")).toBe("identity");
    expect(upstream("gzip")).toBe("gzip");
  });
});

describe("stampAnswer", () => {
  it("cleans the node's headers and sets the gateway's own, replacing the node's copies", () => {
    const headers = new Headers([
      ["content-length", "2"],
      ["x-roundhouse-node", "forged"],
      ["x-request-id", "node-made"],
      ["connection", "close"],
      ["keep-alive", "timeout=5"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ]);
    stampAnswer(headers, { nodeId: "node-1", attempts: 2, requestId: "req-9" }, undefined);
    expect([...headers]).toEqual([
      ["content-length", "2"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-request-id", "req-9"],
      ["x-roundhouse-attempts", "2"],
      ["x-roundhouse-node", "node-1"],
    ]);
  });

  it("without provenance drops the same names and adds none, the node's x-request-id kept", () => {
    const headers = new Headers([
      ["x-roundhouse-attempts", "forged"],
      ["x-request-id", "node-made"],
      ["connection", "x-secret"],
      ["x-secret", "1"],
      ["etag", '"a"'],
    ]);
    expect(droppedAnswerNames(headers).sort()).toEqual([
      "connection",
      "x-roundhouse-attempts",
      "x-secret",
    ]);
    stampAnswer(headers, undefined, undefined);
    expect([...headers]).toEqual([
      ["etag", '"a"'],
      ["x-request-id", "node-made"],
    ]);
  });
});

describe("answerNeedsCleaning", () => {
  it("leaves to the runtime the connection-level lines it drops itself, and nothing else", () => {
    const node = (pairs: [string, string][]) => answerNeedsCleaning(new Headers(pairs), undefined);
    expect(node([["content-type", "text/plain"]])).toBe(false);
    expect(
      node([
        ["connection", "keep-alive"],
        ["keep-alive", "timeout=5"],
        ["transfer-encoding", "chunked"],
      ]),
    ).toBe(false);
    // A name the Connection header lists is dropped only where it is present.
    expect(node([["connection", "keep-alive, x-secret"]])).toBe(false);
    expect(
      node([
        ["connection", "keep-alive, x-secret"],
        ["x-secret", "1"],
      ]),
    ).toBe(true);
    expect(node([["proxy-authenticate", "Basic"]])).toBe(true);
    expect(node([["x-roundhouse-node", "forged"]])).toBe(true);
  });
});

describe("the gateway's cookies in a node's answer", () => {
  it("names a roundhouse-* cookie, the affinity cookie, and any cookie scoped to /_gw", () => {
    const own = (line: string) => setsGatewayCookie(line, "pin");
    expect(own("roundhouse-session=x; Path=/_gw/dashboard; HttpOnly")).toBe(true);
    expect(own("Roundhouse-Node=svc/n1")).toBe(true);
    expect(own("pin=svc/n1; Path=/")).toBe(true);
    expect(own("app=1; path = /_gw")).toBe(true);
    expect(own("app=1; Path=/_gw/admin; Secure")).toBe(true);
    expect(own("app=1; Path=/_gwx")).toBe(false);
    expect(own("app=1; Path=/s/web; Comment=/_gw")).toBe(false);
    expect(own("pinned=1")).toBe(false);
  });

  it("drops those lines only, keeping the node's other cookies, and asks for a rebuild", () => {
    const headers = new Headers([
      ["set-cookie", "app=1; Path=/"],
      ["set-cookie", "roundhouse-session=forged; Path=/_gw/dashboard"],
      ["set-cookie", "pin=svc/n9"],
      ["set-cookie", "theme=dark"],
    ]);
    expect(answerNeedsCleaning(headers, "pin")).toBe(true);
    expect(answerNeedsCleaning(new Headers([["set-cookie", "app=1"]]), "pin")).toBe(false);
    stampAnswer(headers, undefined, "pin");
    expect(headers.getSetCookie()).toEqual(["app=1; Path=/", "theme=dark"]);
  });
});
