/** A node as the rotation sees it: an identity and a relative share of traffic. */
export interface WeightedNode {
  /** Stable node id. */
  readonly id: string;
  /** Relative share of traffic; 1 when omitted. */
  readonly weight?: number;
}

/**
 * Expands weighted nodes into one rotation round using smooth weighted round robin, so that a
 * heavy node's turns are spread through the round instead of bunched together. Rotation positions
 * index into this array modulo its length; positions are handed out in leases, so every gateway
 * isolate shares one global sequence without talking to the others per request.
 */
export function buildSchedule(nodes: readonly WeightedNode[]): string[] {
  const weights = nodes.map((n) => Math.max(1, Math.floor(n.weight ?? 1)));
  const divisor = weights.reduce(gcd, 0) || 1;
  const reduced = weights.map((w) => w / divisor);
  const total = reduced.reduce((a, b) => a + b, 0);
  const current = reduced.map(() => 0);
  const schedule: string[] = [];
  for (let turn = 0; turn < total; turn++) {
    let best = 0;
    for (let i = 0; i < nodes.length; i++) {
      current[i] = (current[i] as number) + (reduced[i] as number);
      if ((current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    schedule.push((nodes[best] as WeightedNode).id);
  }
  return schedule;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** A block of consecutive rotation positions granted to one isolate by the service's coordinator. */
export interface RotationLease {
  /** First position of the block. */
  readonly start: number;
  /** Number of positions in the block. */
  readonly size: number;
}

/**
 * Hands out positions from leased blocks. When the current block runs out, `take` returns
 * undefined and the caller fetches a new lease; positions are never reused, so the leases of all
 * isolates together form one strict rotation.
 */
export class LeasedPositions {
  #next = 0;
  #end = 0;

  /** Replaces the current block with a new lease. */
  refill(lease: RotationLease): void {
    this.#next = lease.start;
    this.#end = lease.start + lease.size;
  }

  /** The next position, or undefined when the lease is used up. */
  take(): number | undefined {
    if (this.#next >= this.#end) return undefined;
    return this.#next++;
  }
}
