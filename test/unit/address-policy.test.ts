import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AddressPolicy,
  type AllowEntry,
  checkHost,
  checkNodeUrl,
  parseAllowEntry,
} from "../../src/balancer/address-policy.ts";

function policy(egress: AddressPolicy["egress"], ...allow: string[]): AddressPolicy {
  return {
    egress,
    allow: allow.map((raw) => {
      const entry = parseAllowEntry(raw);
      if ("error" in entry) throw new Error(entry.error);
      return entry as AllowEntry;
    }),
  };
}

const open = policy("vpc-network");
const demo = policy("internet", "127.0.0.0/8");
const everywhere = policy("vpc-network", "0.0.0.0/0", "::/0", "localhost");

describe("checkHost", () => {
  it.each([
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["::", "unspecified"],
    ["::ffff:127.0.0.1", "IPv4-mapped"],
    ["::ffff:a9fe:a9fe", "IPv4-mapped"],
    ["::127.0.0.1", "IPv4-compatible"],
    ["64:ff9b::a9fe:a9fe", "NAT64"],
    ["metadata.google.internal", "metadata"],
    ["METADATA.google.internal", "metadata"],
  ])("always denies %s, whatever allow lists", (host, why) => {
    const verdict = checkHost(host, everywhere);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(why);
  });

  it.each([
    ["0x7f000001"],
    ["2130706433"],
    ["127.1"],
    ["0177.0.0.1"],
    ["127.000.0.1"],
    ["1.2.3.0x4"],
    ["example.com."],
    ["bücher.example"],
    ["a_b.example"],
    [":::"],
    ["1:2:3:4:5:6:7:8:9"],
    ["fe80::1%eth0"],
    [":@0?"],
    ["[::1]"],
    [""],
  ])("refuses the disguised or malformed entry %j as a bad entry, without throwing", (host) => {
    const verdict = checkHost(host, everywhere);
    expect(verdict.ok).toBe(false);
  });

  it.each([
    ["127.0.0.1"],
    ["10.1.2.3"],
    ["172.16.0.1"],
    ["192.168.1.1"],
    ["100.64.0.1"],
    ["::1"],
    ["fd00::1"],
    ["localhost"],
  ])("refuses the loopback or private %s unless allow lists it", (host) => {
    expect(checkHost(host, open).ok).toBe(false);
    expect(checkHost(host, everywhere).ok).toBe(true);
  });

  it("with internet egress refuses IP literals, saying why, but keeps loopback for local use", () => {
    const refused = checkHost("203.0.113.7", policy("internet"));
    expect(refused).toMatchObject({ ok: false });
    if (!refused.ok) expect(refused.reason).toMatch(/deployed Worker cannot fetch.*hostname.*VPC/);
    expect(checkHost("127.0.0.5", demo)).toMatchObject({ ok: true, localOnly: true });
    expect(checkHost("10.0.0.1", policy("internet", "10.0.0.0/8")).ok).toBe(false);
    expect(checkHost("10.0.0.1", policy("vpc-network", "10.0.0.0/8"))).toMatchObject({
      ok: true,
      localOnly: false,
    });
    expect(checkHost("api.example.com", policy("internet"))).toMatchObject({
      ok: true,
      localOnly: false,
    });
  });

  it("holds names to the rule of the address they spell, and knows loopback names (finding 4 of #24)", () => {
    const vpcEmpty = policy("vpc-network");
    for (const name of [
      "169.254.169.254.nip.io",
      "169-254-169-254.sslip.io",
      "10.0.0.5.nip.io",
      "app.127.0.0.1.nip.io",
      "localhost.localdomain",
      "ip6-localhost",
    ]) {
      expect(checkHost(name, vpcEmpty).ok, name).toBe(false);
    }
    for (const address of ["64:ff9b:1::a00:5", "::ffff:0:a00:5"]) {
      expect(checkHost(address, everywhere).ok, address).toBe(false);
    }
    // A private range the operator listed passes by name too; metadata never does.
    expect(checkHost("10.0.0.5.nip.io", policy("vpc-network", "10.0.0.0/8", "nip.io")).ok).toBe(
      true,
    );
    expect(checkHost("169.254.169.254.nip.io", policy("vpc-network", "nip.io")).ok).toBe(false);
    expect(checkHost("node-1.example.com", vpcEmpty).ok).toBe(true);
    expect(checkHost("v1.2.3.example.com", vpcEmpty).ok).toBe(true);
  });

  it("applies allow: CIDRs by prefix, suffixes on label boundaries", () => {
    const p = policy("vpc-network", "10.1.0.0/16", "nodes.example");
    expect(checkHost("10.1.200.3", p).ok).toBe(true);
    expect(checkHost("10.2.0.1", p).ok).toBe(false);
    expect(checkHost("a.nodes.example", p).ok).toBe(true);
    expect(checkHost("nodes.example", p).ok).toBe(true);
    expect(checkHost("evilnodes.example", p).ok).toBe(false);
    expect(checkHost("nodes.example.evil.com", p).ok).toBe(false);
    expect(checkHost("198.51.100.1", p).ok).toBe(false);
  });

  it("normalizes IPv6 before checking and reports the canonical form", () => {
    const verdict = checkHost("0:0:0:0:0:0:0:1", everywhere);
    expect(verdict).toMatchObject({ ok: true, host: { kind: "ipv6", text: "::1" } });
    expect(checkHost("FD00:0::1", everywhere)).toMatchObject({ host: { text: "fd00::1" } });
  });

  it("never throws, and accepts only hosts the URL parser reads back unchanged", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const verdict = checkHost(text, everywhere);
        if (!verdict.ok || verdict.host.kind === "ipv6") return;
        expect(new URL(`http://${text}/`).hostname).toBe(text.toLowerCase());
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees with the URL parser on every IPv4 address written in another base or width", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        const forms = [String(n), `0x${n.toString(16)}`, `${n >>> 24}.${n & 0xffffff}`];
        for (const form of forms) expect(checkHost(form, everywhere).ok).toBe(false);
      }),
    );
  });
});

describe("checkNodeUrl", () => {
  it("reads the host out of the URL text, not out of the parser's normalized copy", () => {
    expect(checkNodeUrl("http://0x7f000001:8080/", demo).ok).toBe(false);
    expect(checkNodeUrl("http://127.0.0.1:8080/", demo).ok).toBe(true);
    expect(checkNodeUrl("http://[::1]:8080", everywhere).ok).toBe(true);
    expect(checkNodeUrl("http://[fe80::1]:8080", everywhere).ok).toBe(false);
    expect(checkNodeUrl("https://api.example.com", policy("internet")).ok).toBe(true);
  });

  it("refuses credentials in the URL", () => {
    const verdict = checkNodeUrl("http://user:pw@api.example.com/", policy("internet"));
    expect(verdict).toMatchObject({ ok: false });
  });
});

describe("parseAllowEntry", () => {
  it.each([["10.0.0.0/33"], ["::/129"], ["not a thing"], ["0x7f000001/8"], ["10.0.0.0/"]])(
    "refuses %j",
    (raw) => {
      expect(parseAllowEntry(raw)).toHaveProperty("error");
    },
  );

  it("takes bare addresses as single-address ranges and a leading dot on suffixes", () => {
    expect(parseAllowEntry("10.0.0.1")).toMatchObject({ kind: "cidr", bits: 32 });
    expect(parseAllowEntry(".example.com")).toEqual({ kind: "suffix", suffix: "example.com" });
  });
});
