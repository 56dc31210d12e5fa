// Shared output of the benchmarks: a table on stdout and a JSON file under bench/results, checked
// against its benchmark's schema and stamped with the commit it measured.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import {
  describeProvenance,
  type Provenance,
  provenanceSince,
  readProvenance,
} from "./provenance.ts";
import { checkResult, type ResultKind } from "./schemas.ts";

const root = resolve(import.meta.dirname, "..");

/**
 * Set by `npm run bench -- smoke` for the benchmarks it runs, so that their short runs never
 * overwrite the documented results (or the charts drawn from them).
 */
export const RESULTS_DIR_VAR = "BENCH_RESULTS_DIR";

/** Where results go: bench/results, or the directory `BENCH_RESULTS_DIR` names. */
export function resultsDir(): string {
  const diverted = process.env[RESULTS_DIR_VAR];
  if (!diverted) return resolve(root, "bench/results");
  return isAbsolute(diverted) ? diverted : resolve(root, diverted);
}

/** The path of `fileName` among the results, its directory created. */
export function resultFile(fileName: string): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  return join(dir, fileName);
}

/** Where a chart drawn from results goes: docs/, or beside diverted results. */
export function chartFile(fileName: string): string {
  return process.env[RESULTS_DIR_VAR] ? resultFile(fileName) : resolve(root, "docs", fileName);
}

let atStart: Provenance | undefined;

/**
 * The commit this process measures, read the first time it is asked (bench/run.ts asks before
 * any benchmark starts, so a run outside a git checkout stops before measuring anything).
 */
export function runProvenance(): Provenance {
  atStart ??= readProvenance(root);
  return atStart;
}

/** The machine a result was measured on, so figures are never read without their context. */
export function machine() {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}

/**
 * Writes `<results>/<file>.json` with the commit and tree state prepended, then checks it against
 * the schema of `kind` (bench/schemas.ts). The file is written even when it does not match, so a
 * long run's figures are not lost, but the benchmark then fails. Returns what to print after
 * "wrote": the path and the commit.
 */
export function writeResult(kind: ResultKind, result: object, file: string = kind): string {
  const provenance = provenanceSince(runProvenance(), readProvenance(root));
  const path = resultFile(`${file}.json`);
  const json = `${JSON.stringify({ ...provenance, ...result }, null, 2)}\n`;
  writeFileSync(path, json);
  const shown = relative(process.cwd(), path) || path;
  // Checked as it will be read back: a NaN written as null is a missing figure.
  const problems = checkResult(kind, JSON.parse(json));
  if (problems.length > 0) {
    throw new Error(
      `${shown} does not match the ${kind} results schema (bench/schemas.ts):\n  ${problems.join("\n  ")}`,
    );
  }
  return `${shown} (measured at ${describeProvenance(provenance)})`;
}

/** Prints rows as an aligned text table. */
export function printTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly (string | number)[]>,
): void {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  for (const [n, row] of cells.entries()) {
    console.log(row.map((cell, i) => cell.padStart(widths[i] ?? 0)).join("  "));
    if (n === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
}

/** A number rounded for display. */
export function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/** The p-th percentile (0–100, nearest rank) of values sorted ascending; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
