// The per-scenario table: every figure beside its ratio to NGINX with default settings, measured in
// the same run on the same machine, so the ratios hold even where absolute figures do not.
import { fmt, printTable } from "../report.ts";
import { NODE_IDS } from "./nodes.ts";
import type { ScenarioResults, SystemResult } from "./result.ts";

type Figure = "rps" | "p50Ms" | "p90Ms" | "p99Ms" | "errorRate" | "cpuMsPerRequest";

const COLUMNS: ReadonlyArray<{ key: Figure; title: string; show: (v: number) => string }> = [
  { key: "rps", title: "req/s", show: (v) => fmt(v) },
  { key: "p50Ms", title: "p50 ms", show: (v) => fmt(v, 1) },
  { key: "p90Ms", title: "p90 ms", show: (v) => fmt(v, 1) },
  { key: "p99Ms", title: "p99 ms", show: (v) => fmt(v, 1) },
  { key: "errorRate", title: "errors", show: percent },
  { key: "cpuMsPerRequest", title: "cpu ms/req", show: (v) => fmt(v, 2) },
];

/** "1.23×" beside NGINX's figure; "–" with nothing to compare, "=" when both are zero. */
export function ratio(value: number | null, base: number | null | undefined): string {
  if (value === null || base === null || base === undefined || !Number.isFinite(value)) return "–";
  if (base === 0) return value === 0 ? "=" : "–";
  return `${fmt(value / base, 2)}×`;
}

/** The rows of one scenario as text cells, the same for the terminal and for the docs. */
export function scenarioRows(results: ScenarioResults): { header: string[]; rows: string[][] } {
  const base: SystemResult | undefined = results.nginx;
  const header = ["system", ...COLUMNS.map((c) => c.title), ...NODE_IDS];
  const rows = Object.entries(results).map(([system, r]) => [
    system,
    ...COLUMNS.map((c) => {
      const value = r[c.key];
      return value === null ? "–" : `${c.show(value)} (${ratio(value, base?.[c.key])})`;
    }),
    ...NODE_IDS.map((id) => String(r.perNode[id])),
  ]);
  return { header, rows };
}

export function printScenario(title: string, results: ScenarioResults): void {
  const { header, rows } = scenarioRows(results);
  console.log(`\n${title}   (in brackets: ratio to nginx, default settings)`);
  printTable(header, rows);
}

/** A share as a percentage, with enough digits that one error in 100,000 does not read as 0. */
export function percent(fraction: number): string {
  const p = fraction * 100;
  if (p === 0) return "0%";
  return `${p < 0.01 ? p.toPrecision(1) : p < 10 ? p.toFixed(2) : p.toFixed(1)}%`;
}
