// Runs a list of benchmarks one after another, each in a process of its own, and checks what each
// wrote against its schema: `npm run bench -- smoke` and `npm run bench -- all`. A benchmark that
// cannot start, throws, overruns its time or writes a file short of a field fails the suite, and
// the suite goes on to the next one so that one broken benchmark does not hide another.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fmt, printTable, RESULTS_DIR_VAR } from "./report.ts";
import { checkResult, type ResultKind } from "./schemas.ts";

/** One benchmark run of a suite. */
export interface SuiteEntry {
  /** The name `npm run bench --` takes. */
  readonly bench: string;
  readonly argv: readonly string[];
  /** How the summary names it; the benchmark's name unless it runs more than once. */
  readonly label?: string;
  /** The JSON files it must write (name without `.json`, under the results directory). */
  readonly writes: readonly { readonly file: string; readonly kind: ResultKind }[];
  /** Checks beyond the schemas, on the parsed files by name; one line per problem. */
  readonly check?: (results: Readonly<Record<string, unknown>>) => string[];
}

/** How an entry is run: the real one starts `node bench/run.ts` (see childRunner). */
export type RunEntry = (entry: SuiteEntry, resultsDir: string) => Promise<void>;

export interface Outcome {
  readonly label: string;
  readonly seconds: number;
  /** Empty when the entry ran and wrote everything it must. */
  readonly problems: readonly string[];
}

export const labelOf = (entry: SuiteEntry): string => entry.label ?? entry.bench;

/** Runs every entry in turn and returns what went wrong with each. */
export async function runSuite(
  entries: readonly SuiteEntry[],
  options: { readonly resultsDir: string; readonly run: RunEntry },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const entry of entries) {
    const started = Date.now();
    const problems: string[] = [];
    const paths = entry.writes.map(({ file }) => join(options.resultsDir, `${file}.json`));
    // A file left from an earlier run says nothing about this one. Compared with itself, not
    // with the clock: file times come from a coarser clock than Date.now().
    const before = paths.map(modified);
    try {
      await options.run(entry, options.resultsDir);
    } catch (error) {
      problems.push(`did not complete: ${error instanceof Error ? error.message : String(error)}`);
    }
    const results: Record<string, unknown> = {};
    for (const [i, { file, kind }] of entry.writes.entries()) {
      const path = paths[i] as string;
      const shown = relative(process.cwd(), path) || path;
      const after = modified(path);
      if (after === undefined || after === before[i]) {
        problems.push(`wrote no ${shown}`);
        continue;
      }
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(path, "utf8"));
      } catch (error) {
        problems.push(`${shown} is not JSON: ${(error as Error).message}`);
        continue;
      }
      const wrong = checkResult(kind, json);
      problems.push(...wrong.map((line) => `${shown}: ${line}`));
      if (wrong.length === 0) results[file] = json;
    }
    if (entry.check && Object.keys(results).length === entry.writes.length) {
      problems.push(...entry.check(results));
    }
    outcomes.push({ label: labelOf(entry), seconds: (Date.now() - started) / 1000, problems });
  }
  return outcomes;
}

/** When `path` was last written, or undefined when there is none. */
function modified(path: string): number | undefined {
  return existsSync(path) ? statSync(path).mtimeMs : undefined;
}

/** Prints one line per entry and every problem; true when nothing went wrong. */
export function reportOutcomes(suite: string, outcomes: readonly Outcome[]): boolean {
  const failed = outcomes.filter((o) => o.problems.length > 0);
  const total = outcomes.reduce((sum, o) => sum + o.seconds, 0);
  console.log(`\n${suite}: ${outcomes.length} benchmark runs in ${fmt(total)} s`);
  printTable(
    ["benchmark", "seconds", "result"],
    outcomes.map((o) => [o.label, fmt(o.seconds, 1), o.problems.length > 0 ? "FAILED" : "ok"]),
  );
  for (const o of failed) {
    console.error(`\n${o.label} failed:\n  ${o.problems.join("\n  ")}`);
  }
  if (failed.length > 0) {
    console.error(
      `\n${suite}: ${failed.length} of ${outcomes.length} failed (${failed.map((o) => o.label).join(", ")})`,
    );
  }
  return failed.length === 0;
}

const runScript = resolve(import.meta.dirname, "run.ts");

/**
 * Runs an entry as `node bench/run.ts <bench> <argv…>` with its results diverted to the suite's
 * directory; rejects when it exits non-zero (with the end of its error output) or overruns
 * `timeoutMs`, in which case it is stopped as Ctrl-C would (its gateways and proxies with it).
 * `script` stands in for bench/run.ts in tests.
 */
export function childRunner(timeoutMs: number, script: string = runScript): RunEntry {
  return (entry, resultsDir) =>
    new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, [script, entry.bench, ...entry.argv], {
        env: { ...process.env, [RESULTS_DIR_VAR]: resultsDir },
        stdio: ["ignore", "inherit", "pipe"],
      });
      let errorTail = "";
      child.stderr.on("data", (chunk: Buffer) => {
        process.stderr.write(chunk);
        errorTail = (errorTail + chunk.toString()).slice(-8192);
      });
      // Ctrl-C reaches the child through the terminal; a SIGTERM sent to this process alone must
      // reach it too, or its gateways outlive the suite.
      const forward = (signal: NodeJS.Signals) => {
        child.kill(signal);
        child.once("exit", () => process.exit(130));
      };
      process.once("SIGTERM", forward);
      let overran = false;
      const timer = setTimeout(() => {
        overran = true;
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
      }, timeoutMs);
      child.once("error", fail);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        process.off("SIGTERM", forward);
        if (overran) fail(new Error(`did not finish within ${timeoutMs / 1000} s`));
        else if (code === 0) done();
        else fail(new Error(`exited with ${signal ?? `code ${code}`}${lastError(errorTail)}`));
      });
    });
}

/** The lines of a crash report that say what went wrong, without the stack frames. */
function lastError(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "" && !/^\s+at /.test(line) && !/^Node\.js v/.test(line));
  const said = lines.slice(-6);
  return said.length > 0 ? `:\n    ${said.join("\n    ")}` : "";
}
