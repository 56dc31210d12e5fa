// Header hygiene for both directions of the proxy. Headers travel as arrays of [name, value] pairs
// rather than Headers objects: iterating and rebuilding a Headers object crosses into the runtime
// for every line, which showed up as one of the largest costs of a proxied request in the profile
// (docs/benchmarks.md, "Hot path"), while filtering an array stays in JavaScript.

/** A header line: lower-case name (as Headers iterates them) and value. Repeats stay separate. */
export type HeaderPair = [name: string, value: string];

// RFC 9110 §7.6.1 hop-by-hop headers, plus the proxy-only ones; each hop sets its own.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** The lines of `pairs` that are end-to-end: not hop-by-hop, nor named by a Connection header. */
export function endToEndPairs(pairs: readonly HeaderPair[]): HeaderPair[] {
  let named: Set<string> | undefined;
  for (const [name, value] of pairs) {
    if (name !== "connection") continue;
    named ??= new Set();
    for (const token of value.split(",")) {
      const trimmed = token.trim().toLowerCase();
      if (trimmed) named.add(trimmed);
    }
  }
  return pairs.filter(
    ([name]) => !HOP_BY_HOP.has(name) && !named?.has(name) && !name.startsWith("proxy-"),
  );
}

/** The value of a header as Headers.get would give it: repeated lines joined by ", ". */
export function headerValue(pairs: readonly HeaderPair[], name: string): string | null {
  const values = pairs.filter(([n]) => n === name).map(([, value]) => value);
  return values.length > 0 ? values.join(", ") : null;
}

/** Prefix of every header the gateway itself reads or writes. */
const OWN_PREFIX = "x-roundhouse-";

/** What the gateway knows about the client's hop, for the X-Forwarded-* headers. */
export interface ClientHop {
  /** Client address, when the platform reports it. */
  readonly ip: string | null;
  /** Scheme the client used. */
  readonly proto: string;
  /** Host the client asked for. */
  readonly host: string;
}

/** Headers for the upstream request: end-to-end headers plus forwarding and request id. */
export function upstreamHeaders(
  incoming: readonly HeaderPair[],
  hop: ClientHop,
  requestId: string,
): HeaderPair[] {
  const replaced = new Set(["host", "x-forwarded-proto", "x-forwarded-host", "x-request-id"]);
  // Without the client's address the chain is passed on as it came.
  if (hop.ip) replaced.add("x-forwarded-for");
  // The gateway's own headers (x-roundhouse-*: scope, signatures) are consumed here, never
  // forwarded: a client must not be able to speak to a node in the gateway's name.
  const out = endToEndPairs(incoming).filter(
    ([name]) => !replaced.has(name) && !name.startsWith(OWN_PREFIX),
  );
  if (hop.ip) {
    const prior = headerValue(incoming, "x-forwarded-for");
    out.push(["x-forwarded-for", prior ? `${prior}, ${hop.ip}` : hop.ip]);
  }
  out.push(["x-forwarded-proto", hop.proto], ["x-forwarded-host", hop.host]);
  out.push(["x-request-id", requestId]);
  return out;
}

/** The gateway's own response headers, replacing any a node sent under the same names. */
export function withProvenance(
  pairs: readonly HeaderPair[],
  nodeId: string,
  attempts: number,
  requestId: string,
): HeaderPair[] {
  const own = ["x-roundhouse-node", "x-roundhouse-attempts", "x-request-id"];
  return [
    ...endToEndPairs(pairs).filter(([name]) => !own.includes(name)),
    ["x-roundhouse-node", nodeId],
    ["x-roundhouse-attempts", String(attempts)],
    ["x-request-id", requestId],
  ];
}

// A client-supplied id is kept when it is short and printable, so it cannot smuggle anything.
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** The client's x-request-id if usable, else a fresh one. */
export function requestIdFor(incoming: Headers): string {
  const given = incoming.get("x-request-id");
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
