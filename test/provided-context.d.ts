import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Control URL of the loopback fleet of reference nodes shared by the integration tests. */
    fleetUrl: string;
    /** FUZZ_RUNS of `npm run fuzz`: how many times more cases each fuzz property runs (0: the default). */
    fuzzRuns: number;
  }
}
