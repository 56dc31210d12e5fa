/**
 * Where a service's nodes may be: one check for configured nodes, admin registrations, peer route
 * records and discovery answers, since whoever supplies a node's address decides where client
 * traffic, with its credentials, is sent.
 */

/** A host as the check sees it, after normalization. */
export type Host =
  | { readonly kind: "ipv4"; readonly text: string; readonly value: bigint }
  | { readonly kind: "ipv6"; readonly text: string; readonly value: bigint }
  | { readonly kind: "name"; readonly text: string };

/** One `allow` entry: a CIDR, or a hostname suffix matched on label boundaries. */
export type AllowEntry =
  | {
      readonly kind: "cidr";
      readonly family: "ipv4" | "ipv6";
      readonly base: bigint;
      readonly bits: number;
    }
  | { readonly kind: "suffix"; readonly suffix: string };

/** How the service reaches its nodes, as far as the address check cares. */
export interface AddressPolicy {
  /** Entries a node must match when any are given; loopback and private ranges need one. */
  readonly allow: readonly AllowEntry[];
  /** The global fetch of a deployed Worker reaches hostnames only; VPC bindings reach IPs too. */
  readonly egress: "internet" | "vpc-network" | "vpc-service";
}

/** The outcome of a check: the normalized host, or why the address is refused. */
export type AddressVerdict =
  | {
      readonly ok: true;
      readonly host: Host /** Reachable under `wrangler dev` only. */;
      readonly localOnly: boolean;
    }
  | { readonly ok: false; readonly reason: string };

const V4 = 32;
const V6 = 128;

/** Ranges no node may be in, whatever `allow` says: nothing legitimate serves traffic there. */
const ALWAYS_DENIED: readonly [string, string][] = [
  ["0.0.0.0/8", "an unspecified address"],
  ["169.254.0.0/16", "a link-local address (cloud metadata lives here)"],
  ["224.0.0.0/4", "a multicast address"],
  ["240.0.0.0/4", "a reserved or broadcast address"],
  ["::/128", "an unspecified address"],
  ["::ffff:0:0/96", "an IPv4-mapped IPv6 address (name the IPv4 address itself)"],
  ["64:ff9b::/96", "a NAT64 address (name the IPv4 address itself)"],
  ["64:ff9b:1::/48", "a local-use NAT64 address (name the IPv4 address itself)"],
  ["::ffff:0:0:0/96", "an IPv4-translated IPv6 address (name the IPv4 address itself)"],
  ["fe80::/10", "a link-local address"],
  ["ff00::/8", "a multicast address"],
];

/** Ranges that need an `allow` entry: loopback and private networks. */
const NEEDS_ALLOW: readonly [string, string][] = [
  ["127.0.0.0/8", "loopback"],
  ["10.0.0.0/8", "private"],
  ["172.16.0.0/12", "private"],
  ["192.168.0.0/16", "private"],
  ["100.64.0.0/10", "shared (carrier-grade NAT)"],
  ["::1/128", "loopback"],
  ["fc00::/7", "private (unique local)"],
  ["fec0::/10", "private (site-local)"],
];

/** Names of cloud metadata services, reachable from inside a cloud without any credential. */
const METADATA_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.internal",
  "metadata.oraclecloud.com",
]);

/** Other names that resolve to loopback on common systems' hosts files. */
const LOOPBACK_NAMES = new Set(["localhost.localdomain", "ip6-localhost", "ip6-loopback"]);

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// The URL standard parses a host whose last label is a number as an IPv4 address in any base.
const NUMERIC_LABEL = /(^|\.)(\d+|0x[0-9a-f]*)$/;

const denied = ALWAYS_DENIED.map(([cidr, why]) => [parseCidr(cidr) as CidrEntry, why] as const);
const guarded = NEEDS_ALLOW.map(([cidr, what]) => [parseCidr(cidr) as CidrEntry, what] as const);

type CidrEntry = Extract<AllowEntry, { kind: "cidr" }>;

/**
 * Parses a host as written (no brackets for IPv6, no port). Forms whose parsed host differs from
 * their text (`0x7f000001`, `2130706433`, `127.1`, a trailing dot, non-ASCII) are refused rather
 * than normalized: a list that writes an address in disguise is not to be trusted with traffic.
 */
function parseHost(raw: string): Host | { readonly error: string } {
  const text = raw.toLowerCase();
  if (text.length === 0 || text.length > 253) return { error: "empty or too long" };
  if (text.includes(":")) return parseIpv6(text);
  if (text.endsWith(".")) return { error: "a trailing dot (write the name without it)" };
  if (NUMERIC_LABEL.test(text)) {
    if (!DOTTED_QUAD.test(text))
      return { error: "an IPv4 address in a disguised or malformed form" };
    return {
      kind: "ipv4",
      text,
      value: text.split(".").reduce((v, o) => (v << 8n) | BigInt(o), 0n),
    };
  }
  if (!text.split(".").every((label) => LABEL.test(label))) {
    return { error: "not a hostname (letters, digits and hyphens; punycode for other scripts)" };
  }
  return { kind: "name", text };
}

/** Parses one `allow` entry: `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, or a suffix `internal.example`. */
export function parseAllowEntry(raw: string): AllowEntry | { readonly error: string } {
  const cidr = parseCidr(raw);
  if (cidr) return cidr;
  const host = parseHost(raw.replace(/^\./, ""));
  if ("error" in host) return { error: `"${raw}" is neither a CIDR nor a hostname suffix` };
  if (host.kind === "name") return { kind: "suffix", suffix: host.text };
  const bits = host.kind === "ipv4" ? V4 : V6;
  return { kind: "cidr", family: host.kind, base: host.value, bits };
}

/** Checks a host (as written, IPv6 without brackets) against the policy. */
export function checkHost(raw: string, policy: AddressPolicy): AddressVerdict {
  const host = parseHost(raw);
  if ("error" in host) return { ok: false, reason: `${raw} is ${host.error}` };
  if (host.kind === "name") return checkName(host, policy);
  for (const [range, why] of denied) {
    if (inCidr(host, range)) return { ok: false, reason: `${host.text} is ${why}` };
  }
  // ::a.b.c.d, the deprecated IPv4-compatible form, hides an IPv4 address like the mapped one.
  if (host.kind === "ipv6" && host.value > 1n && host.value < 1n << 32n) {
    return { ok: false, reason: `${host.text} is an IPv4-compatible IPv6 address` };
  }
  const guard = guarded.find(([range]) => inCidr(host, range));
  const loopback = guard?.[1] === "loopback";
  if (policy.egress === "internet" && !loopback) {
    return {
      ok: false,
      reason:
        `${host.text} is an IP address, which a deployed Worker cannot fetch; name the node by a ` +
        'hostname (a DNS record in your zone), or reach it through a VPC binding ("egress")',
    };
  }
  const allowed = policy.allow.some((entry) => entry.kind === "cidr" && inCidr(host, entry));
  if (guard && !allowed) {
    return {
      ok: false,
      reason: `${host.text} is a ${guard[1]} address; list its range in the service's "allow" to use it`,
    };
  }
  if (policy.allow.length > 0 && !allowed) {
    return { ok: false, reason: `${host.text} is outside the service's "allow" list` };
  }
  return { ok: true, host, localOnly: loopback && policy.egress === "internet" };
}

/** Checks a node URL's host (and that it carries no credentials) against the policy. */
export function checkNodeUrl(url: string, policy: AddressPolicy): AddressVerdict {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1];
  if (authority === undefined) return { ok: false, reason: `${url} is not an absolute URL` };
  if (authority.includes("@")) return { ok: false, reason: `${url} carries credentials` };
  const host = /^\[([^\]]*)\](?::\d*)?$/.exec(authority)?.[1] ?? authority.replace(/:\d*$/, "");
  return checkHost(host, policy);
}

/**
 * The backend a node URL names, for telling two spellings of one backend apart: the URL parser's
 * scheme, lower-cased host and port (a default port dropped), and the path without a trailing
 * slash. Two ids at one key would double that backend's per-node limits.
 */
export function nodeUrlKey(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, "")}`;
  } catch {
    return url;
  }
}

function checkName(host: Extract<Host, { kind: "name" }>, policy: AddressPolicy): AddressVerdict {
  if (METADATA_NAMES.has(host.text)) {
    return { ok: false, reason: `${host.text} is a cloud metadata service` };
  }
  const matches = (suffix: string) => host.text === suffix || host.text.endsWith(`.${suffix}`);
  const listed = policy.allow.some((entry) => entry.kind === "suffix" && matches(entry.suffix));
  const embedded = embeddedRefusal(host.text, policy, listed);
  if (embedded) return { ok: false, reason: embedded };
  if (matches("localhost") || LOOPBACK_NAMES.has(host.text)) {
    // Loopback by name (RFC 6761): the same rule as 127.0.0.0/8.
    const loopbackListed = policy.allow.some(
      (entry) => entry.kind === "cidr" && entry.family === "ipv4" && entry.base >> 24n === 127n,
    );
    if (!listed && !loopbackListed) {
      return {
        ok: false,
        reason: `${host.text} is loopback; list 127.0.0.0/8 in "allow" to use it`,
      };
    }
    return { ok: true, host, localOnly: policy.egress === "internet" };
  }
  if (policy.allow.length > 0 && !listed) {
    return { ok: false, reason: `${host.text} is outside the service's "allow" list` };
  }
  return { ok: true, host, localOnly: false };
}

/**
 * Why a name that spells an IPv4 address in four labels or dash-separated groups
 * (`169.254.169.254.nip.io`, `10-0-0-5.sslip.io`) is refused: wildcard DNS services answer such
 * names with that address, so the name is held to the rule for the address. Undefined when it
 * embeds none, or none that the policy would refuse for its range. An always-denied range is
 * refused even under a listed suffix; a private or loopback one passes under it.
 */
function embeddedRefusal(text: string, policy: AddressPolicy, listed: boolean): string | undefined {
  const parts = text.split(/[.-]/);
  for (let i = 0; i + 4 <= parts.length; i++) {
    const quad = parts.slice(i, i + 4).join(".");
    if (!DOTTED_QUAD.test(quad)) continue;
    const value = quad.split(".").reduce((v, o) => (v << 8n) | BigInt(o), 0n);
    const ip: Host = { kind: "ipv4", text: quad, value };
    const deny = denied.find(([range]) => inCidr(ip, range));
    if (deny) return `${text} names ${quad}, ${deny[1]}`;
    const guard = guarded.find(([range]) => inCidr(ip, range));
    const allowed = policy.allow.some((entry) => entry.kind === "cidr" && inCidr(ip, entry));
    if (guard && !allowed && !listed) {
      return `${text} names ${quad}, a ${guard[1]} address; list its range in the service's "allow" to use it`;
    }
  }
  return undefined;
}

function parseIpv6(text: string): Host | { readonly error: string } {
  if (text.includes("%")) return { error: "an IPv6 address with a zone, which no URL may carry" };
  // Only address characters reach the URL parser, which would otherwise read "[:@0?]" as
  // credentials and a host.
  if (!/^[0-9a-f:.]{2,45}$/.test(text)) return { error: "a malformed IPv6 address" };
  let canonical: string;
  try {
    const hostname = new URL(`http://[${text}]/`).hostname;
    if (!hostname.startsWith("[") || !hostname.endsWith("]")) throw new Error("not an address");
    canonical = hostname.slice(1, -1);
  } catch {
    return { error: "a malformed IPv6 address" };
  }
  const [head = "", tail] = canonical.split("::");
  const words = (part: string) => (part === "" ? [] : part.split(":"));
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const value = groups.reduce((v, g) => (v << 16n) | BigInt(`0x${g}`), 0n);
  return { kind: "ipv6", text: canonical, value };
}

function parseCidr(raw: string): CidrEntry | undefined {
  const slash = raw.lastIndexOf("/");
  if (slash < 0) return undefined;
  const host = parseHost(raw.slice(0, slash));
  const bits = /^\d{1,3}$/.test(raw.slice(slash + 1)) ? Number(raw.slice(slash + 1)) : Number.NaN;
  if ("error" in host || host.kind === "name") return undefined;
  const width = host.kind === "ipv4" ? V4 : V6;
  if (!(bits >= 0 && bits <= width)) return undefined;
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { kind: "cidr", family: host.kind, base: host.value & mask, bits };
}

function inCidr(host: Exclude<Host, { kind: "name" }>, range: CidrEntry): boolean {
  if (host.kind !== range.family) return false;
  const width = host.kind === "ipv4" ? V4 : V6;
  const shift = BigInt(width - range.bits);
  return host.value >> shift === range.base >> shift;
}

/** Whether a URL's host is loopback (127.0.0.0/8, ::1 or localhost): reachable only locally. */
export function isLoopbackUrl(url: string): boolean {
  const verdict = checkNodeUrl(url, { egress: "vpc-network", allow: LOOPBACK_ONLY });
  return verdict.ok;
}

const LOOPBACK_ONLY: readonly AllowEntry[] = [
  parseCidr("127.0.0.0/8") as CidrEntry,
  parseCidr("::1/128") as CidrEntry,
  { kind: "suffix", suffix: "localhost" },
];
