import type { PeerConfig, SyncSettings } from "../../config/sync-schema.ts";

/** What RouteSync hands a shard: its peers and how to reach them. */
export interface ShardConfig {
  readonly gatewayId: string;
  readonly index: number;
  /** Requests this shard may have in flight at once (at most 6, a Worker invocation's limit). */
  readonly limit: number;
  readonly peers: readonly PeerConfig[];
  readonly settings: SyncSettings;
}

/** Counters for tests and the bench. */
export interface ShardStats {
  /** Peers this shard serves, and the requests it may have in flight at once. */
  readonly peers: number;
  readonly limit: number;
  /** Requests sent to peers (pushes, digests, pulls), retries included. */
  readonly requests: number;
  /** Requests that were retries within a round. */
  readonly retries: number;
  /** Batches a peer acknowledged. */
  readonly acks: number;
  /** Rounds that left a peer dirty. */
  readonly failedRounds: number;
  /** Requests in flight now, and the most ever at once. */
  readonly inFlight: number;
  readonly peakInFlight: number;
  /** Reconcile rounds with a peer, and those whose digests differed. */
  readonly reconciles: number;
  readonly reconcileDiffs: number;
  readonly alarms: number;
}

/** One peer as the services API shows it. */
export interface PeerView {
  readonly peer: string;
  readonly shard: number;
  /** Changes (of the service asked about, or all) the peer has not acknowledged. */
  readonly pending: number;
  /** Keys of those changes, at most 20. */
  readonly pendingKeys: string[];
  readonly cursor: string | null;
  readonly lastSyncedAt: number | null;
  readonly lastReconciledAt: number | null;
  readonly failures: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  readonly nextAttemptAt: number;
}
