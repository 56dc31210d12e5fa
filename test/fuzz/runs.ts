/**
 * How many generated cases each fuzz property runs: a bounded number in `npm test`, many more
 * under `npm run fuzz` (which sets FUZZ_RUNS). Every property reports its count, so a run says
 * what it tried.
 */
export function fuzzRuns(base: number, fromEnv: string | number | undefined): number {
  const factor = Number(fromEnv ?? 0);
  return factor > 0 ? Math.round(base * factor) : base;
}

/**
 * The time each fuzz property may take: a fixed number of cases, whose time depends only on how
 * busy the machine is, so room for a loaded machine, growing with FUZZ_RUNS.
 */
export function fuzzTimeout(fromEnv: string | number | undefined): number {
  return 15_000 * Math.max(1, Number(fromEnv ?? 0));
}

/** The one line a fuzz property prints when it is done. */
export function reportFuzz(surface: string, cases: number): void {
  console.log(`fuzz: ${surface}: ${cases} cases`);
}
