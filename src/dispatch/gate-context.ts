import type { MemberNode } from "../balancer/membership.ts";
import type { ResolvedService } from "../config/load.ts";
import type { HealthContext } from "../durable/gate-health.ts";

/**
 * What every gate call (forward, invoke, lease) tells the gate about its node's health, built in
 * one place so that no path can leave a field out: without `gatewayId` a granted ejection is
 * never recorded for the peers.
 */
export function gateHealthContext(
  service: ResolvedService,
  node: MemberNode,
  totalNodes: number,
): HealthContext {
  return service.gatewayId === undefined
    ? { service: service.name, nodeId: node.id, ejection: service.ejection, totalNodes }
    : {
        service: service.name,
        nodeId: node.id,
        ejection: service.ejection,
        totalNodes,
        gatewayId: service.gatewayId,
      };
}
