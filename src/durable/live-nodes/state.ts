import type { ProbeState } from "../../balancer/health-probe.ts";
import type { ScopeLevel } from "../../balancer/scope.ts";
import type { DeclaredNode, KeptSetting, LiveNodesConfig } from "./contract.ts";
import { noDiscoveryCounts } from "./discovery.ts";
import type { DiscoveredState } from "./discovery-round.ts";
import type { HealthTally } from "./health.ts";

/** What a LiveNodes object persists: its whole state, one storage value. */
export interface LiveState extends DiscoveredState {
  config?: LiveNodesConfig;
  configJson?: string;
  registered: DeclaredNode[];
  probes: Record<string, ProbeState>;
  firstSeen: Record<string, number>;
  /** When each node with records here was first seen listed nowhere; cleared when it returns. */
  unlistedAt: Record<string, number>;
  /** Operators' drains and weights, by node id, whatever the node's source. */
  settings: Record<string, KeptSetting>;
  /** Probe results counted since the object was created, for the metrics. */
  healthTally: HealthTally;
  chains: Record<string, { chain: ScopeLevel[]; usedAt: number }>;
  version: number;
  lastTrafficAt: number;
  lastDiscoveryAt: number;
  lastHealthAt: number;
}

/** The stored state, with defaults for the fields a state stored by an older version lacks. */
export function withDefaults(stored: LiveState | undefined): LiveState {
  return {
    registered: [],
    discovered: {},
    confirmedAt: {},
    probes: {},
    firstSeen: {},
    unlistedAt: {},
    settings: {},
    healthTally: {},
    chains: {},
    version: 1,
    lastTrafficAt: 0,
    lastDiscoveryAt: 0,
    lastHealthAt: 0,
    ...stored,
    counters: { ...noDiscoveryCounts(), ...stored?.counters },
  };
}
