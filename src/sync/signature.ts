import { fromHex, sha256Hex, toBytes, toHex } from "./bytes.ts";

/** Header carrying the signing time, ms since epoch. */
export const TIMESTAMP_HEADER = "x-roundhouse-timestamp";
/** Header carrying `v2=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = "x-roundhouse-signature";
/** Header of a peer's 2xx answer: `v2=<hex HMAC-SHA256>` over the answer, bound to the request. */
export const ANSWER_SIGNATURE_HEADER = "x-roundhouse-answer-signature";
/** Header carrying a random value that makes every signed request unique. */
export const NONCE_HEADER = "x-roundhouse-nonce";
/** Default tolerance between the signer's clock and ours. */
const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
const SIGNATURE_PATTERN = /^v2=([0-9a-f]{64})$/;
const TIMESTAMP_PATTERN = /^\d{1,16}$/;

/** The parts of a request the signature covers. */
export interface SignedParts {
  /** HTTP method; signed upper-cased. */
  readonly method: string;
  /** Path with query string, exactly as sent (`url.pathname + url.search`). */
  readonly path: string;
  /** The raw body; empty when there is none. */
  readonly body: string | Uint8Array;
  /**
   * The gatewayId of the gateway the request is for, so a request captured on its way to one
   * peer cannot be replayed to another peer that shares the secret.
   */
  readonly target: string;
}

/** The parts of a peer's answer its signature covers. */
export interface AnswerParts {
  /** The nonce of the request answered: an answer cannot be replayed to another request. */
  readonly requestNonce: string;
  readonly status: number;
  /** The gatewayId of the peer answering. */
  readonly responder: string;
  /** The raw answer body. */
  readonly body: string | Uint8Array;
}

/** The three signature headers (a type alias, so it passes as a plain header record). */
export type SignatureHeaders = {
  readonly [TIMESTAMP_HEADER]: string;
  readonly [SIGNATURE_HEADER]: string;
  readonly [NONCE_HEADER]: string;
};

/** Anything headers can be read from: a Headers object or a plain record. */
export type HeaderSource = Headers | Readonly<Record<string, string | undefined>>;

/** The outcome of verifying a request. */
export type VerifyResult =
  /** Authentic and fresh. */
  | { readonly ok: true; readonly timestamp: number; readonly nonce: string }
  /** A signature header is absent or empty. */
  | { readonly ok: false; readonly reason: "missing" }
  /** Malformed, or the MAC does not match the request. */
  | { readonly ok: false; readonly reason: "bad-signature" }
  /** The timestamp is outside the allowed skew. */
  | { readonly ok: false; readonly reason: "skewed" }
  /** Authentic, but the nonce was already seen (only when a ReplayGuard is given). */
  | { readonly ok: false; readonly reason: "replayed" }
  /** Authentic, but the ReplayGuard is full of live nonces; retry later (answer 503). */
  | { readonly ok: false; readonly reason: "guard-full" };

/** Options of verify. */
export interface VerifyOptions {
  /** Largest accepted difference between the request's timestamp and `now`. */
  readonly maxSkewMs?: number;
  /** Remembers nonces; when given, a repeat is reported as `replayed`. */
  readonly guard?: ReplayGuard;
}

/** An HMAC-SHA256 key for signing and verifying; import once and reuse across requests. */
export function importSigningKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", toBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

/**
 * The signed string. The nonce is covered too: were it not, anyone could replay a captured
 * request with a fresh nonce and the replay guard would never see a repeat.
 */
async function canonicalString(parts: SignedParts, timestamp: string, nonce: string) {
  const bodyHash = await sha256Hex(parts.body);
  const method = parts.method.toUpperCase();
  return `${method}\n${parts.path}\n${parts.target}\n${timestamp}\n${nonce}\n${bodyHash}`;
}

async function answerString(parts: AnswerParts): Promise<string> {
  const bodyHash = await sha256Hex(parts.body);
  return `ANSWER\n${parts.requestNonce}\n${parts.status}\n${parts.responder}\n${bodyHash}`;
}

/**
 * Signs a peer's answer, so the asking gateway applies only what a holder of the secret said,
 * in answer to its own request: an answer is worth as much as a request, since it carries nodes
 * and ejections that are applied.
 */
export async function signAnswer(key: CryptoKey | string, parts: AnswerParts): Promise<string> {
  const cryptoKey = typeof key === "string" ? await importSigningKey(key) : key;
  const data = toBytes(await answerString(parts));
  return `v2=${toHex(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data)))}`;
}

/** Whether `signature` (the answer's header, or null) is the signature of the answer. */
export async function verifyAnswer(
  key: CryptoKey | string,
  parts: AnswerParts,
  signature: string | null,
): Promise<boolean> {
  const mac = signature === null ? undefined : SIGNATURE_PATTERN.exec(signature)?.[1];
  const macBytes = mac === undefined ? undefined : fromHex(mac);
  if (!macBytes) return false;
  const cryptoKey = typeof key === "string" ? await importSigningKey(key) : key;
  const data = toBytes(await answerString(parts));
  return crypto.subtle.verify("HMAC", cryptoKey, macBytes, data);
}

/** A random nonce: 16 bytes, hex. */
export function newNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** Signs a request made at `now`; returns the headers to add to it. */
export async function sign(
  key: CryptoKey | string,
  parts: SignedParts,
  now: number,
  nonce: string = newNonce(),
): Promise<SignatureHeaders> {
  if (!NONCE_PATTERN.test(nonce)) throw new RangeError("nonce must be 16-128 of [A-Za-z0-9_-]");
  const cryptoKey = typeof key === "string" ? await importSigningKey(key) : key;
  const timestamp = String(Math.floor(now));
  const data = toBytes(await canonicalString(parts, timestamp, nonce));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
  return {
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: `v2=${toHex(mac)}`,
    [NONCE_HEADER]: nonce,
  };
}

function header(headers: HeaderSource, name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  return value ? value : undefined;
}

/**
 * Checks a request's signature headers at time `now`. The MAC is compared by
 * `crypto.subtle.verify`, which runs in constant time. The nonce is recorded in the guard only
 * once the MAC is good, so forged requests cannot fill the guard.
 */
export async function verify(
  key: CryptoKey | string,
  parts: SignedParts,
  headers: HeaderSource,
  now: number,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const timestamp = header(headers, TIMESTAMP_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  const nonce = header(headers, NONCE_HEADER);
  if (timestamp === undefined || signature === undefined || nonce === undefined) {
    return { ok: false, reason: "missing" };
  }
  const mac = SIGNATURE_PATTERN.exec(signature)?.[1];
  if (!TIMESTAMP_PATTERN.test(timestamp) || !NONCE_PATTERN.test(nonce) || mac === undefined) {
    return { ok: false, reason: "bad-signature" };
  }
  const signedAt = Number(timestamp);
  if (Math.abs(now - signedAt) > (options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return { ok: false, reason: "skewed" };
  }
  const cryptoKey = typeof key === "string" ? await importSigningKey(key) : key;
  const data = toBytes(await canonicalString(parts, timestamp, nonce));
  const macBytes = fromHex(mac);
  if (!macBytes || !(await crypto.subtle.verify("HMAC", cryptoKey, macBytes, data))) {
    return { ok: false, reason: "bad-signature" };
  }
  const seen = options.guard?.check(nonce, signedAt, now) ?? "fresh";
  if (seen !== "fresh") return { ok: false, reason: seen === "full" ? "guard-full" : "replayed" };
  return { ok: true, timestamp: signedAt, nonce };
}

/** What a ReplayGuard made of a nonce: first sighting (now recorded), a repeat, or no room. */
export type ReplayCheck = "fresh" | "replayed" | "full";

/** Settings of a ReplayGuard. */
export interface ReplayGuardOptions {
  /** The skew window verify allows; a nonce is remembered until its request would be skewed. */
  readonly maxSkewMs?: number;
  /** Most nonces remembered at once. */
  readonly capacity?: number;
}

/**
 * Remembers nonces of accepted requests while their timestamps are inside the skew window; once
 * outside, verify rejects the request as skewed anyway, so the nonce can be forgotten. When full
 * of live nonces it refuses new ones rather than forget one early, which would reopen a replay:
 * only authenticated peers reach it, so filling it takes a misbehaving peer, not an outsider.
 */
export class ReplayGuard {
  /** Tolerance the guard's memory is sized for. */
  readonly maxSkewMs: number;
  /** Most nonces remembered at once. */
  readonly capacity: number;
  /** Nonce to the time after which it can be forgotten; insertion order is roughly expiry order. */
  readonly #seen = new Map<string, number>();

  constructor(options: ReplayGuardOptions = {}) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.capacity = options.capacity ?? 10_000;
  }

  /** Nonces currently remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /** Records a nonce signed at `timestamp`, unless it is a repeat or the guard is full. */
  check(nonce: string, timestamp: number, now: number): ReplayCheck {
    this.#forgetExpired(now, false);
    if (this.#seen.has(nonce)) return "replayed";
    if (this.#seen.size >= this.capacity) this.#forgetExpired(now, true);
    if (this.#seen.size >= this.capacity) return "full";
    this.#seen.set(nonce, timestamp + this.maxSkewMs);
    return "fresh";
  }

  /** Drops expired nonces from the front; with `all`, scans everything (only when full). */
  #forgetExpired(now: number, all: boolean): void {
    for (const [nonce, expiresAt] of this.#seen) {
      if (expiresAt < now) this.#seen.delete(nonce);
      else if (!all) return;
    }
  }
}
