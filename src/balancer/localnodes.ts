import { type AddressPolicy, checkHost } from "./address-policy.ts";

/** How discovered addresses become node URLs. */
export interface AddressRules {
  /** Scheme of node URLs. */
  readonly scheme: "http" | "https";
  /** Port for entries that carry none. */
  readonly port: number;
}

/** An entry of an answer that was dropped, and why. */
export interface RefusedEntry {
  readonly entry: string;
  readonly reason: string;
}

/** A parsed `/localnodes` answer: node URLs and the entries dropped, or why it was rejected. */
export type LocalNodesAnswer =
  | { ok: true; urls: string[]; refused: RefusedEntry[] }
  | { ok: false; reason: string };

const MAX_ENTRIES = 10_000;

/**
 * Parses the ScyllaDB Alternator `/localnodes` format: a JSON array of bare IP addresses, which
 * take the configured scheme and port, or `host:port` entries. Each entry is normalized and
 * checked against the service's address policy; one that fails is dropped with its reason and
 * the rest apply. An answer none of whose entries survive is rejected whole, so a corrupt answer
 * never empties a level that had nodes.
 */
export function parseLocalNodes(
  body: string,
  rules: AddressRules,
  policy: AddressPolicy,
): LocalNodesAnswer {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (!Array.isArray(value)) return { ok: false, reason: "not a JSON array" };
  if (value.length > MAX_ENTRIES) return { ok: false, reason: `more than ${MAX_ENTRIES} entries` };
  const urls = new Set<string>();
  const refused: RefusedEntry[] = [];
  for (const entry of value) {
    const text = typeof entry === "string" ? entry.trim() : JSON.stringify(entry);
    const made =
      typeof entry === "string" ? entryUrl(text, rules, policy) : { reason: "not a string" };
    if ("url" in made) urls.add(made.url);
    else refused.push({ entry: logText(text, 100), reason: logText(made.reason, 200) });
  }
  if (urls.size === 0 && refused.length > 0) {
    const first = refused[0] as RefusedEntry;
    return { ok: false, reason: `no usable entry: ${JSON.stringify(first.entry)} ${first.reason}` };
  }
  return { ok: true, urls: [...urls].sort(), refused };
}

/**
 * Text from an answer as it may reach logs and stored failure messages: cut to `max` code units
 * (a reason quotes the entry's host, which can be most of a 1 MiB answer) and with everything
 * outside printable ASCII escaped, so an entry cannot forge log lines.
 */
function logText(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(
    /[^\x20-\x7e…]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The node URL of an entry, or why it has none. */
function entryUrl(
  entry: string,
  rules: AddressRules,
  policy: AddressPolicy,
): { url: string } | { reason: string } {
  const split = splitPort(entry);
  if (!split) return { reason: "is not an address or address:port" };
  const port = split.port ?? rules.port;
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    return { reason: "has a port out of range" };
  const verdict = checkHost(split.host, policy);
  if (!verdict.ok) return { reason: verdict.reason };
  const host = verdict.host.kind === "ipv6" ? `[${verdict.host.text}]` : verdict.host.text;
  return { url: `${rules.scheme}://${host}:${port}` };
}

function splitPort(entry: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed) {
    const host = bracketed[1] as string;
    return bracketed[2] ? { host, port: Number(bracketed[2]) } : { host };
  }
  if (entry.split(":").length > 2) return { host: entry };
  const colon = entry.lastIndexOf(":");
  if (colon < 0) return entry.length > 0 ? { host: entry } : undefined;
  const port = entry.slice(colon + 1);
  if (!/^\d{1,5}$/.test(port) || colon === 0) return undefined;
  return { host: entry.slice(0, colon), port: Number(port) };
}
