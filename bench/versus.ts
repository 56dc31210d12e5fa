// `npm run bench -- versus`: Roundhouse beside NGINX and HAProxy, in one run on one machine. The same
// three reference nodes, the same autocannon load and the same faults for every system; figures are
// printed as ratios to NGINX's defaults, written to bench/results/versus.json and drawn into
// docs/versus.svg.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { chartFile, machine, resultFile, writeResult } from "./report.ts";
import { findBinary, INSTALL_HINT, versionOf } from "./versus/binaries.ts";
import { runCannon } from "./versus/cannon.ts";
import { versusChart } from "./versus/chart.ts";
import { type Nodes, startNodes } from "./versus/nodes.ts";
import { checkFree, type Ports, portsFrom } from "./versus/ports.ts";
import { cpuSeconds } from "./versus/procs.ts";
import type { Overhead, ScenarioResults, SystemResult, VersusResult } from "./versus/result.ts";
import { floorRatioOf, systemResult } from "./versus/result.ts";
import { FAULTY, SCENARIOS, type Scenario } from "./versus/scenarios.ts";
import { parseSettings, type Settings, USAGE } from "./versus/settings.ts";
import {
  SkipSystem,
  SYSTEMS,
  type System,
  type SystemName,
  type Target,
} from "./versus/systems.ts";
import { printScenario } from "./versus/table.ts";

const root = resolve(import.meta.dirname, "..");

export async function versusBench(argv: string[]): Promise<void> {
  let settings: Settings;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    // bench/run.ts exits 0 after every scenario; a usage error must not look like success.
    process.exit(2);
  }
  if (settings.redraw) {
    const saved = JSON.parse(
      readFileSync(resultFile(`${settings.out}.json`), "utf8"),
    ) as VersusResult;
    // The subtitle describes the run that measured, not this one.
    drawChart(saved, saved.settings as unknown as Settings, settings.out);
    return;
  }
  const ports = portsFrom(settings.basePort);
  await checkFree(ports);
  const skipped: Record<string, string> = {};
  const unavailable = new Set<SystemName>();
  for (const binary of ["nginx", "haproxy"] as const) {
    if (findBinary(binary)) continue;
    console.warn(`${binary} not found: its rows are skipped. Install it with: ${INSTALL_HINT}`);
  }
  const result: VersusResult = {
    machine: machine(),
    settings: describeSettings(settings),
    scenarios: {},
    skipped,
  };
  const started = Date.now();
  const nodes = await startNodes(ports.control);
  try {
    for (const scenarioName of settings.scenarios) {
      const scenario = SCENARIOS[scenarioName];
      const results: ScenarioResults = {};
      const rounds: Partial<Record<SystemName, SystemResult[]>> = {};
      for (let round = 0; round < settings.rounds; round++) {
        for (const systemName of settings.systems) {
          if (unavailable.has(systemName)) continue;
          const system = SYSTEMS[systemName];
          console.error(`versus: ${scenarioName} / ${systemName} (round ${round + 1}) …`);
          try {
            const measured = await measureSteady(system, scenario, nodes, ports, settings, result);
            rounds[systemName] = [...(rounds[systemName] ?? []), measured];
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            if (error instanceof SkipSystem) {
              unavailable.add(systemName);
              skipped[systemName] = message;
              console.warn(`versus: skipping ${systemName}: ${message}`);
            } else {
              skipped[`${scenarioName}/${systemName}`] = message;
              console.warn(`versus: ${scenarioName} / ${systemName} failed: ${message}`);
            }
          }
        }
      }
      for (const [systemName, measured] of Object.entries(rounds) as [
        SystemName,
        SystemResult[],
      ][]) {
        results[systemName] = medianRound(measured);
      }
      if (settings.rounds > 1) result.rounds = { ...result.rounds, [scenarioName]: rounds };
      result.scenarios[scenarioName] = results;
      printScenario(`${scenarioName}: ${scenario.summary} — ${loadText(settings)}`, results);
    }
  } finally {
    await nodes.close();
  }
  printOverhead(result.overhead);
  const ratio = floorRatioOf(result);
  if (ratio) {
    result.floorRatio = ratio;
    console.log(
      `\nroundhouse-workerd over workerd-floor (healthy, same run): CPU per request ${ratio.cpu?.toFixed(2) ?? "–"}×, req/s ${ratio.rps.toFixed(2)}× (targets: ≤ ${ratio.targets.cpuAtMost}×, ≥ ${ratio.targets.rpsAtLeast}×: ${ratio.targets.met ? "met" : "missed"})`,
    );
  }
  console.log(`\nwrote ${writeResult("versus", result, settings.out)}`);
  drawChart(result, settings, settings.out);
  console.log(`versus took ${Math.round((Date.now() - started) / 1000)} s`);
}

/** The round with the median req/s, whole, so its figures stay those of one run. */
function medianRound(measured: readonly SystemResult[]): SystemResult {
  const sorted = [...measured].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)] as SystemResult;
}

/** A run that something restarted under is run once more; a second disturbance is reported. */
async function measureSteady(...args: Parameters<typeof measure>): Promise<SystemResult> {
  try {
    return await measure(...args);
  } catch (error) {
    if (!(error instanceof Disturbed)) throw error;
    console.warn(`versus: ${error.message}; running it again`);
    return await measure(...args);
  }
}

class Disturbed extends Error {
  override name = "Disturbed";
}

/** One system under one scenario: fresh start, warm-up, fault, measured run, stop. */
async function measure(
  system: System,
  scenario: Scenario,
  nodes: Nodes,
  ports: Ports,
  settings: Settings,
  result: VersusResult,
): Promise<SystemResult> {
  await nodes.reset();
  await scenario.beforeStart?.(nodes);
  const target = await system.start(nodes, ports);
  const load = {
    urls: target.urls,
    connections: settings.connections,
    method: settings.method,
  };
  try {
    // Warms JIT and connection pools; its requests are not counted anywhere.
    if (settings.warmupS > 0) await runCannon({ ...load, durationS: settings.warmupS });
    await scenario.atRunStart?.(nodes);
    await nodes.resetStats();
    const midRun = scenario.midRun;
    const cpuBefore = cpuSeconds(target.pids);
    const measured = await runCannon({
      ...load,
      durationS: settings.durationS,
      at: midRun && { seconds: settings.durationS / 2, action: () => midRun(nodes) },
    });
    const cpu = cpuSeconds(target.pids) - cpuBefore;
    const answered = measured.ok + measured.non2xx;
    const cpuMsPerRequest = target.pids.length > 0 && answered > 0 ? (cpu * 1000) / answered : null;
    const perNode = await nodes.requests();
    const disturbance = target.disturbance?.();
    if (disturbance) throw new Disturbed(disturbance);
    if (scenario.name === "healthy" && target.health && !result.overhead) {
      result.overhead = await timeHealth(target, settings);
    }
    return systemResult(measured, perNode, cpuMsPerRequest);
  } finally {
    await target.stop();
  }
}

/** Times GET /_gw/health, which touches no node, through wrangler's dev proxy and past it. */
async function timeHealth(target: Target, settings: Settings): Promise<Overhead | undefined> {
  const health = target.health;
  if (!health) return undefined;
  const durationS = Math.min(5, settings.durationS);
  const time = async (url: string) => {
    const cpuBefore = cpuSeconds(target.pids);
    const m = await runCannon({
      urls: [url],
      connections: settings.connections,
      durationS,
      method: "GET",
    });
    const cpuMs = (cpuSeconds(target.pids) - cpuBefore) * 1000;
    const cpuMsPerRequest = m.ok > 0 && target.pids.length > 0 ? cpuMs / m.ok : null;
    return { rps: m.rps, p50Ms: m.p50Ms, p90Ms: m.p90Ms, p99Ms: m.p99Ms, cpuMsPerRequest };
  };
  const viaWrangler = await time(health.viaWrangler);
  const direct = health.direct ? await time(health.direct) : undefined;
  return { viaWrangler, direct };
}

function printOverhead(overhead: Overhead | undefined): void {
  if (!overhead) return;
  const line = (label: string, m: Overhead["viaWrangler"]) =>
    console.log(
      `  ${label}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50Ms.toFixed(1)} ms, p99 ${m.p99Ms.toFixed(1)} ms, ${m.cpuMsPerRequest?.toFixed(2) ?? "–"} ms CPU per request`,
    );
  console.log("\nGET /_gw/health (no node involved):");
  line("through wrangler's dev proxy", overhead.viaWrangler);
  if (overhead.direct) line("straight to workerd        ", overhead.direct);
}

function describeSettings(settings: Settings): Record<string, unknown> {
  const wrangler = JSON.parse(
    readFileSync(resolve(root, "node_modules/wrangler/package.json"), "utf8"),
  ) as { version: string };
  const autocannon = JSON.parse(
    readFileSync(resolve(root, "node_modules/autocannon/package.json"), "utf8"),
  ) as { version: string };
  return {
    ...settings,
    faultyNode: FAULTY,
    loadGenerator: `autocannon ${autocannon.version}, one instance per run, closed loop on keep-alive connections`,
    direct: "one autocannon instance over the three node URLs: connection i goes to node i mod 3",
    rps: "2xx responses per second",
    latency: "every response (any status), transport errors excluded",
    errorRate: "(non-2xx responses + transport errors) / (responses + transport errors)",
    perNode: "requests each node counted, retries and health probes included",
    cpuMsPerRequest:
      "CPU time of the balancer's process tree (for Roundhouse: wrangler and both workerd) per answered request",
    idempotencyKey: settings.method === "POST" ? "unique per request" : "none (GET)",
    versions: {
      nginx: versionOf("nginx") ?? "not installed",
      haproxy: versionOf("haproxy") ?? "not installed",
      wrangler: wrangler.version,
    },
  };
}

function drawChart(result: VersusResult, settings: Settings, out: string): void {
  const svg = chartFile(`${out}.svg`);
  writeFileSync(svg, versusChart(result, chartSubtitle(result, settings)));
  console.log(`wrote ${svg}`);
}

function loadText(settings: Settings): string {
  return `${settings.connections} connections, ${settings.durationS} s, ${settings.method}`;
}

function chartSubtitle(result: VersusResult, settings: Settings): string {
  const m = result.machine as { cpu: string; cores: number; date: string };
  return `${m.date.slice(0, 10)}, ${m.cores} cores (${m.cpu}); ${loadText(settings)} per run; ${FAULTY} is the faulty node`;
}
