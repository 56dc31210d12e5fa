import type { Discovery } from "./behaviour.ts";

/** Path on which ScyllaDB Alternator serves node discovery. */
export const LOCALNODES_PATH = "/localnodes";

/** Which part of a cluster a /localnodes request asks about. */
export interface LocalNodesScope {
  /** Datacenter asked for: ?dc, else the contacted node's own. */
  dc: string | undefined;
  /** Rack asked for, or undefined for the whole datacenter. */
  rack: string | undefined;
}

/** What a node needs from its cluster to answer /localnodes. */
export interface ClusterMembership {
  /** Cluster name. */
  readonly name: string;
  /** Address entries of the members in `scope` that currently accept connections. */
  liveEntries(scope: LocalNodesScope): string[];
}

/** A /localnodes answer as sent: status plus raw body, so faulty bodies stay exact. */
export interface LocalNodesAnswer {
  /** HTTP status. */
  status: number;
  /** Response body, labelled application/json whatever it holds. */
  body: string;
}

/** Entries the bad-entries fault appends: none of them is an address a client could use. */
const BAD_ENTRIES: readonly unknown[] = ["not-an-address", "", "256.1.1.1", 9042, 127.5];

/**
 * Entries the hostile fault appends: where a compromised node would send clients (cloud metadata,
 * link-local, private ranges, loopback written in disguise) and a malformed IPv6 address.
 */
const HOSTILE_ENTRIES: readonly string[] = [
  "169.254.169.254",
  "metadata.google.internal",
  "0x7f000001",
  "2130706433:9000",
  "127.1",
  "[::ffff:127.0.0.1]",
  "10.0.0.1",
  "[fe80::1]",
  ":::",
];

/** Reads the scope from a raw query string; like Alternator, ?rack alone stays in the own dc. */
export function localNodesScope(query: string, ownDc: string | undefined): LocalNodesScope {
  const params = new URLSearchParams(query);
  return { dc: params.get("dc") ?? ownDc, rack: params.get("rack") ?? undefined };
}

/** The answer for `entries` under a discovery fault; null means never answer. */
export function localNodesAnswer(discovery: Discovery, entries: string[]): LocalNodesAnswer | null {
  switch (discovery) {
    case "normal":
      return { status: 200, body: JSON.stringify(entries) };
    case "garbage":
      // A truncated array looks like a body cut short, and is never valid JSON, even when empty.
      return { status: 200, body: `[${entries.map((entry) => JSON.stringify(entry)).join(",")},` };
    case "object":
      return { status: 200, body: JSON.stringify({ nodes: entries }) };
    case "bad-entries":
      // The real entries stay in, so a client may choose between dropping the answer and filtering it.
      return { status: 200, body: JSON.stringify([...entries, ...BAD_ENTRIES]) };
    case "hostile":
      return { status: 200, body: JSON.stringify([...entries, ...HOSTILE_ENTRIES]) };
    case "error":
      return { status: 500, body: JSON.stringify({ error: "node discovery failed" }) };
    case "hang":
      return null;
  }
}
