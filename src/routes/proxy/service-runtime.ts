import { buildSchedule, LeasedPositions } from "../../balancer/rotation.ts";
import type { ResolvedService } from "../../config/load.ts";
import type { LeaseGrant } from "../../durable/rotation-coordinator.ts";
import { counters } from "./counters.ts";

/**
 * What one isolate keeps about one service between requests: its leased rotation positions, the
 * ejections it has heard of, and the rotation round over the nodes that are routable now. This is
 * what lets a dispatch skip the coordinator on all but one in `leaseSize` requests.
 */
export class ServiceRuntime {
  readonly service: ResolvedService;
  private readonly positions = new LeasedPositions();
  private pendingLease: Promise<void> | undefined;
  private readonly ejected = new Map<string, number>();
  private round: readonly string[] = [];
  private roundValidUntil = -1;

  constructor(service: ResolvedService) {
    this.service = service;
  }

  /** The next rotation position, leasing a new block from the coordinator when this one is spent. */
  async nextPosition(lease: (size: number) => Promise<LeaseGrant>): Promise<number> {
    for (;;) {
      const position = this.positions.take();
      if (position !== undefined) return position;
      // One lease call serves every dispatch of a burst that found the block empty.
      this.pendingLease ??= this.refill(lease).finally(() => {
        this.pendingLease = undefined;
      });
      await this.pendingLease;
    }
  }

  /** Remembers that a node is out until `until`. */
  markEjected(nodeId: string, until: number): void {
    if ((this.ejected.get(nodeId) ?? 0) >= until) return;
    this.ejected.set(nodeId, until);
    this.roundValidUntil = -1;
  }

  /** Node ids routable at `now`, in rotation order, repeated by weight. */
  schedule(now: number): readonly string[] {
    if (now < this.roundValidUntil) return this.round;
    let validUntil = Number.POSITIVE_INFINITY;
    for (const [id, until] of this.ejected) {
      if (until <= now) this.ejected.delete(id);
      else validUntil = Math.min(validUntil, until);
    }
    const routable = this.service.nodes.filter((n) => !this.ejected.has(n.id));
    this.round = buildSchedule(routable);
    this.roundValidUntil = validUntil;
    return this.round;
  }

  /** Whether the node is ejected as far as this isolate knows. */
  isEjected(nodeId: string, now: number): boolean {
    return (this.ejected.get(nodeId) ?? 0) > now;
  }

  private async refill(lease: (size: number) => Promise<LeaseGrant>): Promise<void> {
    counters.coordinatorCalls++;
    const size = this.service.rotation.leaseSize;
    try {
      const grant = await lease(size);
      this.positions.refill(grant);
      for (const { nodeId, until } of grant.ejected) this.markEjected(nodeId, until);
    } catch (error) {
      // Without its coordinator the isolate keeps serving: a block at a random offset still
      // rotates strictly within the isolate and only loosens the global interleaving.
      counters.leaseFailures++;
      console.warn(`rotation lease for ${this.service.name} failed: ${String(error)}`);
      this.positions.refill({ start: Math.floor(Math.random() * 2 ** 40), size });
    }
  }
}

const runtimes = new WeakMap<ResolvedService, ServiceRuntime>();

/** The isolate's runtime for a service; a new configuration starts afresh. */
export function runtimeFor(service: ResolvedService): ServiceRuntime {
  let runtime = runtimes.get(service);
  if (!runtime) {
    runtime = new ServiceRuntime(service);
    runtimes.set(service, runtime);
  }
  return runtime;
}
