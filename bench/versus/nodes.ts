// The three reference nodes, run by backend/cli.ts in a process of their own so that serving them
// does not share an event loop with the load generator, and driven through its control API.
import { resolve } from "node:path";
import type { BehaviourPatch } from "../../backend/behaviour.ts";
import type { NodeStats } from "../../backend/node-types.ts";
import { type Child, startChild, waitForPort } from "./children.ts";

export const NODE_IDS = ["node-1", "node-2", "node-3"] as const;
export type NodeId = (typeof NODE_IDS)[number];

/** The nodes of one run and the handles a scenario needs. */
export interface Nodes {
  /** Base URLs by id, e.g. http://127.0.0.1:18101. */
  readonly urls: Record<NodeId, string>;
  readonly ports: Record<NodeId, number>;
  setBehaviour(id: NodeId, patch: BehaviourPatch): Promise<void>;
  stop(id: NodeId): Promise<void>;
  /** Every node listening, with the default behaviour, and counters at zero. */
  reset(): Promise<void>;
  resetStats(): Promise<void>;
  /** Requests each node received since the last reset, health probes included. */
  requests(): Promise<Record<NodeId, number>>;
  close(): Promise<void>;
}

const cli = resolve(import.meta.dirname, "../../backend/cli.ts");

/** What "default behaviour" means for a reset: every field a scenario may touch, put back. */
const HEALTHY: BehaviourPatch = { mode: "ok", delayMs: 0, slowMs: 0, slowEvery: 0, flap: null };

/** Starts node-1..3 on basePort+1..3, with the control server on basePort. */
export async function startNodes(basePort: number): Promise<Nodes> {
  const child: Child = startChild("backend nodes", process.execPath, [
    cli,
    "--nodes",
    String(NODE_IDS.length),
    "--base-port",
    String(basePort + 1),
    "--control-port",
    String(basePort),
  ]);
  // The control server listens before the nodes are added: the last node is the one to wait for.
  await waitForPort(child, basePort + NODE_IDS.length);
  const control = `http://127.0.0.1:${basePort}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${control}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? undefined : response.json();
  };
  const ports = Object.fromEntries(NODE_IDS.map((id, i) => [id, basePort + 1 + i])) as Record<
    NodeId,
    number
  >;
  const urls = Object.fromEntries(
    NODE_IDS.map((id) => [id, `http://127.0.0.1:${ports[id]}`]),
  ) as Record<NodeId, string>;
  const each = (f: (id: NodeId) => Promise<unknown>) => Promise.all(NODE_IDS.map(f));
  const nodes: Nodes = {
    urls,
    ports,
    setBehaviour: async (id, patch) => void (await call("POST", `/nodes/${id}/behaviour`, patch)),
    stop: async (id) => void (await call("POST", `/nodes/${id}/stop`)),
    async reset() {
      await each((id) => call("POST", `/nodes/${id}/behaviour`, HEALTHY));
      await each((id) => call("POST", `/nodes/${id}/start`));
      await nodes.resetStats();
    },
    resetStats: async () => void (await each((id) => call("POST", `/nodes/${id}/reset-stats`))),
    async requests() {
      const stats = (await each((id) => call("GET", `/nodes/${id}/stats`))) as NodeStats[];
      return Object.fromEntries(NODE_IDS.map((id, i) => [id, stats[i]?.requests ?? 0])) as Record<
        NodeId,
        number
      >;
    },
    close: () => child.stop(),
  };
  return nodes;
}
