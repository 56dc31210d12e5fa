/** How discovered addresses become node URLs. */
export interface AddressRules {
  /** Scheme of node URLs. */
  readonly scheme: "http" | "https";
  /** Port for entries that carry none. */
  readonly port: number;
}

/** A parsed `/localnodes` answer: node URLs, or why the answer was rejected. */
export type LocalNodesAnswer = { ok: true; urls: string[] } | { ok: false; reason: string };

const MAX_ENTRIES = 10_000;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses the ScyllaDB Alternator `/localnodes` format: a JSON array of bare IP addresses, which
 * take the configured scheme and port, or `host:port` entries. The whole answer is rejected if any
 * entry is malformed: a half-corrupt list is more likely a broken node than a smaller cluster.
 */
export function parseLocalNodes(body: string, rules: AddressRules): LocalNodesAnswer {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (!Array.isArray(value)) return { ok: false, reason: "not a JSON array" };
  if (value.length > MAX_ENTRIES) return { ok: false, reason: `more than ${MAX_ENTRIES} entries` };
  const urls = new Set<string>();
  for (const entry of value) {
    const url = typeof entry === "string" ? addressUrl(entry.trim(), rules) : undefined;
    if (!url) return { ok: false, reason: `bad entry ${JSON.stringify(entry)}` };
    urls.add(url);
  }
  return { ok: true, urls: [...urls].sort() };
}

function addressUrl(entry: string, rules: AddressRules): string | undefined {
  let host = entry;
  let port = rules.port;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed) {
    host = bracketed[1] as string;
    if (bracketed[2]) port = Number(bracketed[2]);
    if (!IPV6.test(host) || !host.includes(":")) return undefined;
    host = `[${host}]`;
  } else if (IPV6.test(entry) && entry.split(":").length > 2) {
    host = `[${entry}]`;
  } else {
    const colon = entry.lastIndexOf(":");
    if (colon >= 0) {
      host = entry.slice(0, colon);
      port = /^\d{1,5}$/.test(entry.slice(colon + 1)) ? Number(entry.slice(colon + 1)) : Number.NaN;
    }
    // All-digit dotted names must be valid IPv4 addresses, not hostnames that look like one.
    const valid = /^[\d.]+$/.test(host) ? IPV4.test(host) : HOSTNAME.test(host);
    if (!valid) return undefined;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return `${rules.scheme}://${host}:${port}`;
}
