/**
 * What one service runtime of an isolate did: Durable Object round trips, hedges and refused
 * retries, read by `/_gw/stats`, the tests and the dispatch benchmark. Each runtime holds its
 * own, handed to the pieces that count (lease client, membership cache, attempt loop), so no
 * module-level object is written from several files and a test reads the runtime it drove.
 */
export function newCounters() {
  return {
    /** Requests the proxy dispatched. */
    dispatches: 0,
    /** Hedges sent: second attempts at another node while the first was still out. */
    hedges: 0,
    /** Retries and hedges the retry budget refused. */
    retriesRefused: 0,
    /** Calls to a rotation coordinator: lease grants, and a public read's ejections. */
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
}

export type Counters = ReturnType<typeof newCounters>;

/** Counters added field by field, for an isolate's total over its services. */
export function sumCounters(all: Iterable<Counters>): Counters {
  const total = newCounters();
  for (const one of all) {
    for (const key of Object.keys(total) as (keyof Counters)[]) total[key] += one[key];
  }
  return total;
}
