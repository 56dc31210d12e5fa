import { type ProbeState, recordProbe, unprobed } from "../../balancer/health-probe.ts";
import type { ServiceConfig } from "../../config/schema.ts";
import type { NodeFetcher } from "../../upstream/egress.ts";
import { eachLimited } from "../../util/each-limited.ts";
import { probe } from "./discovery.ts";

/** Outbound connections one Worker invocation may hold open at once. */
const CONNECTIONS = 6;

/** Probe results counted per node, for the metrics: passes, failures, and turns to unhealthy. */
export type HealthTally = Record<string, { pass: number; fail: number; downs: number }>;

/**
 * Probes every node once, at most six at a time, and records each result in `probes` (dropping
 * the records of nodes no longer probed) and in `tally`. Returns whether any node changed state
 * and which nodes passed while healthy.
 */
export async function probeNodes(
  probes: Record<string, ProbeState>,
  nodes: readonly { readonly id: string; readonly url: string }[],
  health: NonNullable<ServiceConfig["health"]>,
  via: NodeFetcher,
  tally: HealthTally,
): Promise<{ flipped: boolean; passing: Set<string> }> {
  const now = Date.now();
  const targets = new Map(nodes.map((node) => [node.id, node.url]));
  let flipped = false;
  const passing = new Set<string>();
  await eachLimited([...targets], CONNECTIONS, async ([id, url]) => {
    const passed = await probe(via, joinPath(url, health.path), health.timeoutMs);
    const before = probes[id] ?? unprobed(now);
    const after = recordProbe(before, passed, health, Date.now());
    probes[id] = after;
    const counts = tally[id] ?? { pass: 0, fail: 0, downs: 0 };
    if (passed) counts.pass++;
    else counts.fail++;
    if (before.healthy && !after.healthy) counts.downs++;
    tally[id] = counts;
    if (after.healthy !== before.healthy) flipped = true;
    if (passed && after.healthy) passing.add(id);
  });
  for (const id of Object.keys(probes)) if (!targets.has(id)) delete probes[id];
  return { flipped, passing };
}

function joinPath(url: string, path: string): string {
  return url.endsWith("/") ? url + path.slice(1) : url + path;
}
