/** Durable Object round trips made by this isolate, read by tests and the dispatch benchmark. */
export const counters = {
  /** Requests the proxy dispatched. */
  dispatches: 0,
  /** Calls to a rotation coordinator (lease grants). */
  coordinatorCalls: 0,
  /** Calls to node gates (one per attempt, plus refusals). */
  gateCalls: 0,
  /** Lease calls that failed, after which the isolate rotated on its own. */
  leaseFailures: 0,
  /** Calls to a service's live-node object (at most one per refresh interval per scope chain). */
  liveNodeCalls: 0,
  /** Live-node calls that failed, after which the isolate kept its cached membership. */
  liveNodeFailures: 0,
};

export type Counters = typeof counters;
