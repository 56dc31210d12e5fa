import { z } from "zod";
import { isLoopbackUrl } from "../balancer/address-policy.ts";
import { ORIGIN_PATTERN } from "../sync/hlc.ts";
import { validateBackoffPolicy } from "../sync/retry-policy.ts";
import { NodeUrlSchema } from "./network-schema.ts";

/** Outbound connections one Worker invocation (an alarm included) may hold open at once. */
export const CONNECTIONS_PER_INVOCATION = 6;

const gatewayName = z
  .string()
  .regex(ORIGIN_PATTERN, "letters, digits and . _ : - only, at most 64");

/** Another gateway deployment sharing this one's route table. */
export const PeerSchema = z.strictObject({
  /** The peer's `gatewayId`. */
  name: gatewayName,
  /** Base URL the peer's `/_gw/peer/…` endpoints hang off. */
  url: NodeUrlSchema.refine(
    (url) => url.startsWith("https://") || isLoopbackUrl(url),
    "must be https:// (plain http only on loopback, for local runs): peer traffic carries route changes",
  ),
});

/** How route changes fan out to peers and how gateways reconcile. */
export const SyncSchema = z
  .strictObject({
    /** Most changes in one push to one peer. */
    batchSize: z.int().min(1).max(256).default(128),
    /** Time one request to a peer may take. */
    requestTimeoutMs: z.int().min(1).max(60_000).default(100),
    /** Retries of one push after the first request, within the peer deadline. */
    retrySteps: z.int().min(0).max(10).default(3),
    /** Sleep before the first retry; each later one is `retryFactor` times longer. */
    retryBaseMs: z.int().min(0).max(60_000).default(10),
    /** Growth of each retry sleep over the previous one. */
    retryFactor: z.number().min(1).max(10).default(2),
    /** Each retry sleep varies by up to this share either way. */
    retryJitter: z.number().min(0).max(0.99).default(0.2),
    /** Time all requests and sleeps of one push round to one peer may take together. */
    peerDeadlineMs: z.int().min(1).max(600_000).default(300),
    /** Wait before a peer that failed a round is tried again; doubles per failed round. */
    peerBackoffMs: z.int().min(1).max(3_600_000).default(1_000),
    /** Longest wait between rounds for a failing peer. */
    peerBackoffMaxMs: z.int().min(1).max(86_400_000).default(300_000),
    /** Period of the digest comparison with every peer (also run on start). */
    reconcileIntervalMs: z.int().min(50).max(86_400_000).default(30_000),
    /** Fan-out objects the peers are spread over, by a hash of the peer name. */
    shards: z.int().min(1).max(64).default(11),
    /** Requests in flight to peers at once, over all shards; at most 6 per shard. */
    maxInFlight: z.int().min(1).max(384).default(64),
    /** How far a peer's clock may run ahead of ours before its changes are refused. */
    maxClockDriftMs: z.int().min(1_000).max(3_600_000).default(60_000),
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
