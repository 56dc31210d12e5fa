import { z } from "zod";
import { isLoopbackUrl } from "../balancer/address-policy.ts";
import { NodeUrlSchema } from "../balancer/node-url.ts";
import { ORIGIN_PATTERN } from "../sync/hlc.ts";
import { validateBackoffPolicy } from "../sync/retry-policy.ts";

/** Outbound connections one Worker invocation (an alarm included) may hold open at once. */
const CONNECTIONS_PER_INVOCATION = 6;

const gatewayName = z
  .string()
  .regex(ORIGIN_PATTERN, "letters, digits and . _ : - only, at most 64");

export const PeerSchema = z
  .strictObject({
    name: gatewayName.describe("The peer's `gatewayId`. Unique, and not this gateway's own id."),
    url: NodeUrlSchema.refine(
      (url) => url.startsWith("https://") || isLoopbackUrl(url),
      "must be https:// (plain http only on loopback, for local runs): peer traffic carries route changes",
    ).describe(
      "Base URL of the peer deployment, `https://` (plain `http://` on loopback only) with no query, fragment or credentials; `/_gw/peer/…` is appended to it.",
    ),
  })
  .meta({ id: "peer", description: "Another gateway deployment sharing this one's route table." });

export const SyncSchema = z
  .strictObject({
    batchSize: z
      .int()
      .min(1)
      .max(256)
      .default(128)
      .describe("Most changes in one push to one peer."),
    requestTimeoutMs: z
      .int()
      .min(1)
      .max(60_000)
      .default(100)
      .describe("Time one request to a peer may take."),
    retrySteps: z
      .int()
      .min(0)
      .max(10)
      .default(3)
      .describe(
        "Retries of a push after its first request, for transient failures only: a network error, a timeout, 429 or 5xx. Never for another 4xx (400, 401, 409 …).",
      ),
    retryBaseMs: z.int().min(0).max(60_000).default(10).describe("Sleep before the first retry."),
    retryFactor: z
      .number()
      .min(1)
      .max(10)
      .default(2)
      .describe(
        "Each retry sleeps this many times longer than the one before: 10, 20, 40 ms by default.",
      ),
    retryJitter: z
      .number()
      .min(0)
      .max(0.99)
      .default(0.2)
      .describe("Each sleep varies by up to this share either way."),
    peerDeadlineMs: z
      .int()
      .min(1)
      .max(600_000)
      .default(300)
      .describe(
        "Time a push round to one peer may take, requests and sleeps together. At least `requestTimeoutMs`.",
      ),
    peerBackoffMs: z
      .int()
      .min(1)
      .max(3_600_000)
      .default(1_000)
      .describe(
        "Wait before a peer whose round failed is tried again; doubles with each failed round in a row (shortened by up to 20% at random).",
      ),
    peerBackoffMaxMs: z
      .int()
      .min(1)
      .max(86_400_000)
      .default(300_000)
      .describe("Longest wait between rounds for a failing peer. Not below `peerBackoffMs`."),
    reconcileIntervalMs: z
      .int()
      .min(50)
      .max(86_400_000)
      .default(30_000)
      .describe(
        "Period of the digest comparison with every peer, which also runs when a peer is first seen. A partitioned peer converges within one period of its return.",
      ),
    shards: z
      .int()
      .min(1)
      .max(64)
      .default(11)
      .describe(
        "Fan-out objects the peers are spread over by a hash of their name; each may hold at most six connections, a Worker invocation's limit.",
      ),
    maxInFlight: z
      .int()
      .min(1)
      .max(384)
      .default(64)
      .describe(
        "Requests in flight to peers at once over all shards, divided between them (64 over 11: nine shards of 6 and two of 5). From `shards` to 6 × `shards`.",
      ),
    maxClockDriftMs: z
      .int()
      .min(1_000)
      .max(3_600_000)
      .default(60_000)
      .describe(
        "How far a peer's stamps may run ahead of this gateway's clock; a batch beyond it is refused with 409 `clock-drift`.",
      ),
  })
  .superRefine((sync, ctx) => {
    const check = validateBackoffPolicy(backoffPolicyOf(sync));
    if (!check.ok) {
      for (const message of check.problems) {
        ctx.addIssue({ code: "custom", path: [], message });
      }
    }
    if (sync.peerBackoffMaxMs < sync.peerBackoffMs) {
      ctx.addIssue({ code: "custom", path: ["peerBackoffMaxMs"], message: "below peerBackoffMs" });
    }
    if (sync.maxInFlight > sync.shards * CONNECTIONS_PER_INVOCATION) {
      ctx.addIssue({
        code: "custom",
        path: ["maxInFlight"],
        message: `above shards × ${CONNECTIONS_PER_INVOCATION} (${sync.shards * CONNECTIONS_PER_INVOCATION}): a shard holds at most ${CONNECTIONS_PER_INVOCATION} connections`,
      });
    }
    if (sync.maxInFlight < sync.shards) {
      ctx.addIssue({
        code: "custom",
        path: ["maxInFlight"],
        message: "below shards: every shard needs at least one connection",
      });
    }
  })
  .meta({
    id: "sync",
    description:
      "How route changes fan out to peers, retry, and reconcile. The retry settings are checked together: the longest total sleep, every jitter at its maximum (`(10 + 20 + 40) × 1.2 = 84` ms by default), must be strictly below `requestTimeoutMs`, so that retrying a slow peer never costs more than one more request would.",
  });

/** Sync settings with defaults filled in. */
export type SyncSettings = z.output<typeof SyncSchema>;
/** A peer gateway. */
export type PeerConfig = z.output<typeof PeerSchema>;

/** The per-push retry policy the settings describe (see src/sync/retry-policy.ts). */
export function backoffPolicyOf(sync: {
  retrySteps: number;
  retryBaseMs: number;
  retryFactor: number;
  retryJitter: number;
  requestTimeoutMs: number;
  peerDeadlineMs: number;
}) {
  return {
    steps: sync.retrySteps,
    baseMs: sync.retryBaseMs,
    factor: sync.retryFactor,
    jitter: sync.retryJitter,
    perRequestTimeoutMs: sync.requestTimeoutMs,
    peerDeadlineMs: sync.peerDeadlineMs,
  };
}

/** The top-level fields of peer sync, checked against each other. */
export function checkPeers(
  config: { gatewayId?: string; peers: readonly PeerConfig[] },
  ctx: z.RefinementCtx,
): void {
  if (config.peers.length > 0 && config.gatewayId === undefined) {
    ctx.addIssue({ code: "custom", path: ["gatewayId"], message: "required when peers are set" });
  }
  const seen = new Set<string>();
  config.peers.forEach((peer, i) => {
    if (peer.name === config.gatewayId) {
      ctx.addIssue({ code: "custom", path: ["peers", i, "name"], message: "is this gateway's id" });
    }
    if (seen.has(peer.name)) {
      ctx.addIssue({ code: "custom", path: ["peers", i, "name"], message: "duplicate name" });
    }
    seen.add(peer.name);
  });
}
