import { backoffDelay } from "./backoff.ts";

/** How one attempt at a node ended, as far as the retry decision needs to know. */
export type AttemptOutcome =
  /** The node answered with response headers. */
  | { readonly kind: "response"; readonly status: number }
  /** The connection failed or broke before response headers; the request may have reached the node. */
  | { readonly kind: "network-error" }
  /** No response headers within the per-try timeout; the request may have reached the node. */
  | { readonly kind: "timeout" }
  /** The request never left the gateway (the node was ejected, or its gate queue timed out). */
  | { readonly kind: "not-sent" };

/** Retry settings of a service. */
export interface RetryPolicy {
  /** Most times one request is sent to a node (first try included). */
  readonly maxAttempts: number;
  /** Base of the exponential backoff between attempts. */
  readonly backoffBaseMs: number;
  /** Cap of one backoff sleep. */
  readonly backoffMaxMs: number;
  /** Response statuses that are retried when the request is safe to repeat. */
  readonly retryOnStatus: readonly number[];
}

/** What the retry decision knows about the request itself. */
export interface RequestTraits {
  /** HTTP method, upper case. */
  readonly method: string;
  /** The request carries an Idempotency-Key header. */
  readonly hasIdempotencyKey: boolean;
  /** The body can be sent again (none, or buffered within the replay limit). */
  readonly replayable: boolean;
}

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** RFC 9110 idempotent methods, or any method the client marked with an Idempotency-Key. */
export function isSafeToRepeat(request: RequestTraits): boolean {
  return IDEMPOTENT_METHODS.has(request.method) || request.hasIdempotencyKey;
}

/**
 * Whether an attempt that ended this way may be sent to another node.
 *
 * A request that never left the gateway can always go elsewhere. Anything that may have reached
 * the node (a timeout, a broken connection, an error status) is repeated only when repeating it is
 * safe. Workers' fetch() reports a refused connection and a connection reset after the request
 * was written with the same error, so a network error counts as "may have reached the node".
 */
export function shouldRetry(
  outcome: AttemptOutcome,
  request: RequestTraits,
  policy: RetryPolicy,
): boolean {
  if (outcome.kind === "not-sent") return true;
  if (!request.replayable || !isSafeToRepeat(request)) return false;
  if (outcome.kind === "response") return policy.retryOnStatus.includes(outcome.status);
  return true;
}

/**
 * Sleep before retry number `retry` (1 for the first retry): exponential growth from the base,
 * capped, with full jitter so that clients that failed together do not retry together.
 */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const backoff = { baseMs: policy.backoffBaseMs, capMs: policy.backoffMaxMs, jitter: FULL };
  return backoffDelay(backoff, retry - 1, random);
}

const FULL = { kind: "full" } as const;
