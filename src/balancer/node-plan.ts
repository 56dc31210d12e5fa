/**
 * The seam every routing policy implements: the order of nodes for one dispatch, walked by the
 * attempt loop, with exhaustion judged from the dispatch's own tried-set. Round robin
 * (rotation-plan.ts), least outstanding (least-outstanding.ts), consistent hashing
 * (consistent-hash.ts) and affinity (pinned-plan.ts) each build one; dispatch/plan.ts picks which.
 */
export interface NodePlan {
  /** The next node to try, or undefined when every routable node has been tried. */
  next(): string | undefined;
  /** Whether some routable node is still untried. */
  hasNext(): boolean;
  /** Node ids tried so far, in order. */
  readonly triedNodes: string[];
  /** Counts a node as tried without trying it (one another plan already took). */
  exclude(id: string): void;
}
