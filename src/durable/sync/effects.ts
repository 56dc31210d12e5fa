import type { SyncConfig } from "../../config/load.ts";
import { parseRouteKey, type RouteTable } from "../../sync/route-table.ts";
import { coordinatorOf, liveNodesOf, readmitNode } from "../stubs.ts";

/** Ejection cap for a service a stored configuration predates. */
const DEFAULT_EJECTION_MAX_MS = 300_000;

/**
 * Makes routing agree with the route table's entry for a key changed by a peer: its record
 * register decides whether the node is registered (LiveNodes), its state whether it is ejected or
 * readmitted, and its operator registers whether it is drained and what it weighs. Read from the
 * current entry rather than from the change, so effects cannot apply out of order.
 */
export async function applyRouteEffect(
  env: Env,
  table: RouteTable,
  config: SyncConfig,
  key: string,
): Promise<void> {
  const parsed = parseRouteKey(key);
  const entry = table.get(key);
  if (!parsed || !entry || !config.services.includes(parsed.service)) return;
  const { service, nodeId } = parsed;
  const live = liveNodesOf(env, service);
  if (entry.record === null) {
    await live.applySynced({ kind: "remove", nodeId });
  } else if (entry.record !== undefined) {
    await live.applySynced({ kind: "upsert", node: { id: nodeId, ...entry.record } });
  }
  await live.applySynced({
    kind: "operate",
    nodeId,
    setting: { draining: entry.draining, weight: entry.weight },
  });
  const state = table.stateChange(key);
  if (state?.kind === "eject" && state.until > Date.now()) {
    // A peer's ejection lasts no longer than this gateway would eject the node itself.
    const cap = config.ejectionMaxMs?.[service] ?? DEFAULT_EJECTION_MAX_MS;
    await coordinatorOf(env, service).applySyncedEjection(
      nodeId,
      Math.min(state.until, Date.now() + cap),
    );
  } else if (state?.kind === "readmit") {
    await readmitNode(env, service, nodeId);
  }
}
