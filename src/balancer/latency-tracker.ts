import { ejectionAllowance } from "./ejection.ts";
import {
  type LatencyOutlierPolicy,
  type LatencyStats,
  latencyOutliers,
  recordLatency,
} from "./latency-outlier.ts";

/**
 * What one isolate sees of its own attempts: handshakes in progress per node (for least
 * outstanding) and each node's handshake latency, from which it takes latency outliers out for a
 * while. Pure: the caller passes the time.
 */
export class LatencyTracker {
  readonly #policy: LatencyOutlierPolicy | undefined;
  readonly #maxEjectedShare: number;
  readonly #inFlight = new Map<string, number>();
  readonly #latency = new Map<string, LatencyStats>();
  readonly #slowUntil = new Map<string, number>();

  constructor(policy: LatencyOutlierPolicy | undefined, maxEjectedShare: number) {
    this.#policy = policy;
    this.#maxEjectedShare = maxEjectedShare;
  }

  /** Handshakes this isolate has in progress at the node. */
  outstanding(nodeId: string): number {
    return this.#inFlight.get(nodeId) ?? 0;
  }

  /** Until when the node is out as a latency outlier (0 or past: it is not). */
  slowUntil(nodeId: string): number {
    return this.#slowUntil.get(nodeId) ?? 0;
  }

  /** Ends of the outlier ejections in force, for the soonest change of the rotation. */
  slowEnds(): IterableIterator<number> {
    return this.#slowUntil.values();
  }

  begin(nodeId: string): void {
    this.#inFlight.set(nodeId, this.outstanding(nodeId) + 1);
  }

  /**
   * Ends a handshake; with a latency sample and a policy, judges the nodes again and returns the
   * ones it takes out now, with their end. `isOut` says which are out already (for any reason),
   * `totalNodes` bounds how many may be out, as passive ejection's share cap does.
   */
  end(
    nodeId: string,
    latencyMs: number | undefined,
    now: number,
    totalNodes: number,
    isOut: (nodeId: string) => boolean,
  ): { readonly nodeId: string; readonly until: number }[] {
    this.#inFlight.set(nodeId, Math.max(0, this.outstanding(nodeId) - 1));
    const policy = this.#policy;
    if (!policy || latencyMs === undefined) return [];
    this.#latency.set(nodeId, recordLatency(this.#latency.get(nodeId), latencyMs));
    const out = [...this.#slowUntil.values()].filter((until) => until > now).length;
    const allowance = ejectionAllowance(totalNodes, this.#maxEjectedShare) - out;
    const taken: { nodeId: string; until: number }[] = [];
    for (const id of latencyOutliers(this.#latency, policy, allowance)) {
      if (isOut(id)) continue;
      const until = now + policy.ejectMs;
      this.#slowUntil.set(id, until);
      // Judge it afresh when it comes back, not by the average that got it ejected.
      this.#latency.delete(id);
      taken.push({ nodeId: id, until });
    }
    return taken;
  }
}
