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

/** Copies headers without the hop-by-hop ones, including those the Connection header names. */
export function endToEndHeaders(source: Headers): Headers {
  const named = new Set(
    (source.get("connection") ?? "")
      .split(",")
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  const out = new Headers();
  for (const [name, value] of source) {
    if (HOP_BY_HOP.has(name) || named.has(name) || name.startsWith("proxy-")) continue;
    out.append(name, value);
  }
  return out;
}

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
export function upstreamHeaders(incoming: Headers, hop: ClientHop, requestId: string): Headers {
  const out = endToEndHeaders(incoming);
  out.delete("host");
  if (hop.ip) {
    const prior = incoming.get("x-forwarded-for");
    out.set("x-forwarded-for", prior ? `${prior}, ${hop.ip}` : hop.ip);
  }
  out.set("x-forwarded-proto", hop.proto);
  out.set("x-forwarded-host", hop.host);
  out.set("x-request-id", requestId);
  return out;
}

// A client-supplied id is kept when it is short and printable, so it cannot smuggle anything.
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** The client's x-request-id if usable, else a fresh one. */
export function requestIdFor(incoming: Headers): string {
  const given = incoming.get("x-request-id");
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
