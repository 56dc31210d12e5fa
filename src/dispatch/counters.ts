/** Durable Object round trips made by this isolate, read by tests and the dispatch benchmark. */
export const counters = {
  /** Requests the proxy dispatched. */
  dispatches: 0,
  /** Hedges sent: second attempts at another node while the first was still out. */
  hedges: 0,
  /** Retries and hedges the retry budget refused. */
  retriesRefused: 0,
  /** Calls to a rotation coordinator (lease grants). */
  coordinatorCalls: 0,
  /** Attempts sent through a node's gate (one gate call each, refusals included). */
  gateCalls: 0,
  /** Attempts this isolate sent itself on a leased slot (no Durable Object call). */
  directAttempts: 0,
  /** Lease calls to node gates: first leases, renewals and failure reports. */
  gateLeaseCalls: 0,
  /** Lease calls that failed; the isolate went on with what it held. */
  gateLeaseFailures: 0,
  /** Lease calls that failed, after which the isolate rotated on its own. */
  leaseFailures: 0,
  /** Calls to a service's live-node object (at most one per refresh interval per scope chain). */
  liveNodeCalls: 0,
  /** Live-node calls that failed, after which the isolate kept its cached membership. */
  liveNodeFailures: 0,
};

export type Counters = typeof counters;
