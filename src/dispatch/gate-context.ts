import type { MemberNode } from "../balancer/membership.ts";
import type { ResolvedService } from "../config/load.ts";
import type { HealthContext } from "../durable/gate/health.ts";

/** What every call to a node's gate (forward, invoke, lease) carries, whatever else it adds. */
export interface GateCall extends HealthContext {
  /** The node's handshake limit, the gate's own slot count. */
  readonly gateLimit: number;
}

/**
 * The part of a gate call every caller sends, built in one place so that no path can leave a
 * field out: without `gatewayId` a granted ejection is never recorded for the peers.
 */
export function gateCall(service: ResolvedService, node: MemberNode, totalNodes: number): GateCall {
  const base = {
    service: service.name,
    nodeId: node.id,
    ejection: service.ejection,
    totalNodes,
    gateLimit: service.gate.limit,
  };
  return service.gatewayId === undefined ? base : { ...base, gatewayId: service.gatewayId };
}
