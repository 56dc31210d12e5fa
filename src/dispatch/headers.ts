// Header hygiene for both directions of the proxy, on Headers objects. Each direction copies its
// headers once, natively (`new Headers(h)`, or a Response built from the node's headers), then
// deletes and sets a few names. Measured inside workerd (docs/benchmarks.md, "Hot path"), headers
// built from an array of [name, value] pairs cost about 20 µs a direction, three times a native
// copy and its edits: the runtime converts every pair, where a copy of a Headers object does not.

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

/** Prefix of every header the gateway itself reads or writes. */
const OWN_PREFIX = "x-roundhouse-";

/**
 * The names in `headers` that are hop-by-hop: RFC 9110's, any `proxy-*`, and whatever a
 * Connection header names; with `ownToo`, the gateway's own `x-roundhouse-*` as well.
 */
export function hopByHopNames(headers: Headers, ownToo = false): string[] {
  const names = [...headers.keys()];
  const connection = names.includes("connection") ? headers.get("connection") : null;
  let named: Set<string> | undefined;
  if (connection !== null) {
    named = new Set();
    for (const token of connection.split(",")) {
      const trimmed = token.trim().toLowerCase();
      if (trimmed) named.add(trimmed);
    }
  }
  return names.filter(
    (name) =>
      HOP_BY_HOP.has(name) ||
      name.startsWith("proxy-") ||
      named?.has(name) === true ||
      (ownToo && name.startsWith(OWN_PREFIX)),
  );
}

/** What the gateway knows about the client's hop, for the X-Forwarded-* headers. */
export interface ClientHop {
  /** Client address, when the platform reports it. */
  readonly ip: string | null;
  /** Scheme the client used. */
  readonly proto: string;
  /** Host the client asked for. */
  readonly host: string;
  /**
   * The client's own Accept-Encoding when the platform replaced the header (`cf.clientAcceptEncoding`;
   * "" for none), else undefined and the header is the client's.
   */
  readonly acceptEncoding?: string | undefined;
}

/** Headers for the upstream request: end-to-end headers plus forwarding and request id. */
export function upstreamHeaders(incoming: Headers, hop: ClientHop, requestId: string): Headers {
  const out = new Headers(incoming);
  for (const name of hopByHopNames(incoming)) out.delete(name);
  // The gateway's own headers (x-roundhouse-*: scope, signatures) are consumed here, never
  // forwarded: a client must not be able to speak to a node in the gateway's name.
  for (const name of incoming.keys()) if (name.startsWith(OWN_PREFIX)) out.delete(name);
  out.delete("host");
  // Without the client's address the chain is passed on as it came.
  if (hop.ip) {
    const prior = incoming.get("x-forwarded-for");
    out.set("x-forwarded-for", prior ? `${prior}, ${hop.ip}` : hop.ip);
  }
  out.set("x-forwarded-proto", hop.proto);
  out.set("x-forwarded-host", hop.host);
  out.set("x-request-id", requestId);
  // The node's encoding reaches the client untouched (manual encoding), so the node must be asked
  // for what the client accepts, not what the runtime asks for on its own: a client that accepts
  // no coding gets identity from the node, with the node's own Content-Length and ETag for it.
  const asked = hop.acceptEncoding ?? incoming.get("accept-encoding");
  if (!asked || !acceptsCoding(asked)) out.set("accept-encoding", "identity");
  else if (hop.acceptEncoding !== undefined) out.set("accept-encoding", asked);
  return out;
}

// A zero weight, as RFC 9110 §12.4.2 writes it: "q=0", "q=0.", "q=0.0", up to three zeros.
const ZERO_WEIGHT = /;\s*q\s*=\s*0(?:\.0{0,3})?\s*(?:;|$)/i;

/**
 * Whether an Accept-Encoding value accepts some coding other than identity (RFC 9110 §12.5.3):
 * a named coding or `*` without a zero weight. Scans in place; the common value has no weights.
 */
export function acceptsCoding(value: string): boolean {
  let start = 0;
  while (start < value.length) {
    let end = value.indexOf(",", start);
    if (end === -1) end = value.length;
    const semi = value.indexOf(";", start);
    const weighted = semi !== -1 && semi < end;
    const coding = value
      .slice(start, weighted ? semi : end)
      .trim()
      .toLowerCase();
    if (
      coding !== "" &&
      coding !== "identity" &&
      !(weighted && ZERO_WEIGHT.test(value.slice(semi, end)))
    ) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

/** Who answered, as `provenance: "headers"` tells the client. */
export interface Provenance {
  readonly nodeId: string;
  readonly attempts: number;
  readonly requestId: string;
}

/**
 * The names a node's answer may not pass on: hop-by-hop lines, and `x-roundhouse-*`, the
 * gateway's own namespace in both directions, so a node cannot answer in the gateway's name.
 */
export function droppedAnswerNames(headers: Headers): string[] {
  return hopByHopNames(headers, true);
}

// Connection-level headers that workerd's own HTTP layer drops whenever it sends an answer on,
// whoever built it (checked on the wire: test/isolates/answer-headers.test.ts). Node's servers
// send `connection` and `keep-alive` on every answer, so they alone must not force a rebuild.
const RUNTIME_DROPPED = new Set([
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Whether a fetched answer carries something to drop that the runtime would send on: a `proxy-*`
 * line, a name its Connection header lists, an `x-roundhouse-*` one, or a Set-Cookie for one of
 * the gateway's own cookies.
 */
export function answerNeedsCleaning(headers: Headers, affinityCookie: string | undefined): boolean {
  return (
    droppedAnswerNames(headers).some((name) => !RUNTIME_DROPPED.has(name)) ||
    (headers.has("set-cookie") &&
      headers.getSetCookie().some((line) => setsGatewayCookie(line, affinityCookie)))
  );
}

// The gateway's cookie namespace: the dashboard's session and the default affinity cookie.
const OWN_COOKIE_PREFIX = "roundhouse-";
// The gateway's own paths: a cookie scoped to them reaches the dashboard and the admin API.
const OWN_PATH = /;\s*path\s*=\s*\/_gw(?:[/;\s]|$)/i;

/**
 * Whether a node's Set-Cookie line would set one of the gateway's cookies: a `roundhouse-*` name,
 * the service's affinity cookie, or any cookie scoped to `/_gw`. A node must not be able to plant
 * a session for the dashboard, which shares the proxy's origin, or pin clients by hand.
 */
export function setsGatewayCookie(line: string, affinityCookie: string | undefined): boolean {
  const eq = line.indexOf("=");
  const name = (eq < 0 ? line : line.slice(0, eq)).trim().toLowerCase();
  return (
    name.startsWith(OWN_COOKIE_PREFIX) ||
    (affinityCookie !== undefined && name === affinityCookie.toLowerCase()) ||
    OWN_PATH.test(line)
  );
}

/**
 * Makes a node's answer headers the client's, in place: the dropped names out, the gateway's
 * cookies out of its Set-Cookie lines and, with provenance, the gateway's own headers set
 * (`x-request-id` replacing the node's).
 */
export function stampAnswer(
  headers: Headers,
  provenance: Provenance | undefined,
  affinityCookie: string | undefined,
): void {
  for (const name of droppedAnswerNames(headers)) headers.delete(name);
  const cookies = headers.getSetCookie();
  if (cookies.some((line) => setsGatewayCookie(line, affinityCookie))) {
    headers.delete("set-cookie");
    for (const line of cookies) {
      if (!setsGatewayCookie(line, affinityCookie)) headers.append("set-cookie", line);
    }
  }
  if (provenance === undefined) return;
  headers.set("x-roundhouse-node", provenance.nodeId);
  headers.set("x-roundhouse-attempts", String(provenance.attempts));
  headers.set("x-request-id", provenance.requestId);
}

// A client-supplied id is kept when it is short and printable, so it cannot smuggle anything.
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** The client's x-request-id if usable, else a fresh one. */
export function requestIdFor(incoming: Headers): string {
  const given = incoming.get("x-request-id");
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
