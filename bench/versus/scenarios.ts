// The faults every system is measured under. node-3 is the faulty node in each; the other two stay
// healthy, so a balancer that routes around it can serve everything.
import type { NodeId, Nodes } from "./nodes.ts";

export const SCENARIO_NAMES = [
  "healthy",
  "dead-node",
  "killed-node",
  "slow-node",
  "flapping-node",
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const FAULTY: NodeId = "node-3";

export interface Scenario {
  readonly name: ScenarioName;
  readonly summary: string;
  /** Set up before the system starts: the system never sees the node healthy. */
  beforeStart?(nodes: Nodes): Promise<void>;
  /** Set up after the warm-up, right before the measured run, so timed behaviour starts at t = 0. */
  atRunStart?(nodes: Nodes): Promise<void>;
  /** Done halfway through the measured run. */
  midRun?(nodes: Nodes): Promise<void>;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  healthy: { name: "healthy", summary: "three healthy nodes" },
  "dead-node": {
    name: "dead-node",
    summary: `${FAULTY} refuses connections from before the proxy starts`,
    beforeStart: (nodes) => nodes.setBehaviour(FAULTY, { mode: "refuse" }),
  },
  "killed-node": {
    name: "killed-node",
    summary: `${FAULTY} is stopped halfway through the run, open connections dropped`,
    midRun: (nodes) => nodes.stop(FAULTY),
  },
  "slow-node": {
    name: "slow-node",
    summary: `${FAULTY} adds 300 ms to every second response`,
    atRunStart: (nodes) => nodes.setBehaviour(FAULTY, { slowMs: 300, slowEvery: 2 }),
  },
  "flapping-node": {
    name: "flapping-node",
    summary: `${FAULTY} answers 503 for 2 s of every 5 s, starting at t = 0`,
    atRunStart: (nodes) => nodes.setBehaviour(FAULTY, { flap: { downMs: 2_000, periodMs: 5_000 } }),
  },
};
