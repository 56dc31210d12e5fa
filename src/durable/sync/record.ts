import { logOf } from "../../logging/log-of.ts";
import { routeKey } from "../../sync/route-table.ts";
import { routeSyncOf } from "../stubs.ts";
import type { LocalChange } from "./route-sync.ts";

/** A route change as its maker knows it: the service and node instead of the table key. */
export type NodeChange = LocalChange extends infer C
  ? C extends LocalChange
    ? Omit<C, "key">
    : never
  : never;

/**
 * Records a route change with the gateway's RouteSync object for its peers: one call to a local
 * object that stamps, persists and queues the change and returns; it never waits on a peer. It
 * throws when the change could not be recorded, so that an operation whose answer promises the
 * peers will hear of it (an admin registration) can refuse instead.
 */
export async function recordRouteChange(
  env: Env,
  gatewayId: string | undefined,
  service: string,
  nodeId: string,
  change: NodeChange,
): Promise<void> {
  if (gatewayId === undefined) return;
  const stub = routeSyncOf(env, gatewayId);
  await stub.record(gatewayId, { ...change, key: routeKey(service, nodeId) } as LocalChange);
}

/**
 * Records a change some other mechanism will make again if this record is lost (an ejection the
 * next failures re-earn, a readmission the next health check repeats): a failure is logged, and
 * the operation that made the change goes on; reconcile repairs what the peers missed.
 */
export async function recordRouteChangeOrLog(
  ...args: Parameters<typeof recordRouteChange>
): Promise<void> {
  try {
    await recordRouteChange(...args);
  } catch (error) {
    const [env, , service, nodeId, change] = args;
    logOf(env).fault("error", {
      event: "sync-failure",
      service,
      node: nodeId,
      reason: `could not record ${change.kind}: ${String(error)}`,
    });
  }
}
