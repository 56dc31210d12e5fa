import type { PeerConfig } from "../../config/sync-schema.ts";
import { readLimited } from "../../http/limited-body.ts";
import { tornDown } from "../../http/torn-down.ts";
import type { PeerOutcome } from "../../sync/retry-policy.ts";
import {
  ANSWER_SIGNATURE_HEADER,
  importSigningKey,
  NONCE_HEADER,
  sign,
  verifyAnswer,
} from "../../sync/signature.ts";
import { MAX_BODY_BYTES } from "../../sync/wire.ts";

/** A peer's answer as read: status and body text, the body already verified for a 2xx. */
export interface PeerAnswer {
  readonly status: number;
  readonly text: string;
}

/** In-flight bookkeeping the client reports into (the shard's counters). */
export interface PeerTraffic {
  requests: number;
  peakInFlight: number;
}

/**
 * How a PeerShard talks to a peer gateway: each request signed for that peer (its name is in the
 * signature, so a captured request cannot be replayed to another peer sharing the secret), and
 * each 2xx answer read within the byte limit while it streams and applied only if its own
 * signature, bound to the request's nonce, verifies.
 */
export class PeerClient {
  readonly #env: Env;
  readonly #traffic: PeerTraffic;
  #key: Promise<CryptoKey> | undefined;
  #inFlight = 0;

  constructor(env: Env, traffic: PeerTraffic) {
    this.#env = env;
    this.#traffic = traffic;
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  async request(
    peer: PeerConfig,
    method: "GET" | "POST",
    pathAndQuery: string,
    body: string,
    timeoutMs: number,
  ): Promise<{ outcome: PeerOutcome; answer?: PeerAnswer }> {
    const url = new URL(peer.url.replace(/\/$/, "") + pathAndQuery);
    const key = await this.#signingKey();
    const headers = await sign(
      key,
      { method, path: url.pathname + url.search, body, target: peer.name },
      Date.now(),
    );
    const signal = AbortSignal.timeout(timeoutMs);
    this.#traffic.requests++;
    this.#inFlight++;
    this.#traffic.peakInFlight = Math.max(this.#traffic.peakInFlight, this.#inFlight);
    /** The answer was read to its end: the peer holds nothing of this request any more. */
    let readWhole = false;
    try {
      const response = await fetch(url, {
        method,
        headers: {
          ...headers,
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(method === "POST" ? { body } : {}),
        signal,
        redirect: "manual",
      });
      const status = response.status;
      if (status < 200 || status > 299) {
        await response.body?.cancel();
        return { outcome: { kind: "status", status } };
      }
      // Read the answer inside the timeout and the in-flight count, and never past the limit.
      const read = await readLimited(response.body, MAX_BODY_BYTES);
      if (!read.ok) return { outcome: { kind: "bad-answer", detail: `answer ${read.reason}` } };
      readWhole = true;
      const parts = { requestNonce: headers[NONCE_HEADER], status, responder: peer.name };
      const signature = response.headers.get(ANSWER_SIGNATURE_HEADER);
      if (!(await verifyAnswer(key, { ...parts, body: read.bytes }, signature))) {
        return { outcome: { kind: "bad-answer", detail: "answer signature missing or wrong" } };
      }
      const text = new TextDecoder().decode(read.bytes);
      return { outcome: { kind: "status", status }, answer: { status, text } };
    } catch {
      return { outcome: signal.aborted ? { kind: "timeout" } : { kind: "network-error" } };
    } finally {
      // The slot (this count, and the caller's turn in the shard's limit) is freed only once the
      // connection of a request given up on is closed, so the peer never holds more than the bound.
      if (!readWhole) await tornDown();
      this.#inFlight--;
    }
  }

  #signingKey(): Promise<CryptoKey> {
    const secret = this.#env.PEER_SECRET;
    if (typeof secret !== "string" || secret.length === 0) {
      return Promise.reject(new Error("PEER_SECRET is not set"));
    }
    this.#key ??= importSigningKey(secret);
    return this.#key;
  }
}
