import type { TestProject } from "vitest/node";
import { startFleet } from "../backend/fleet.ts";

/** Starts one fleet of reference backend nodes on loopback for the whole workers test run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fleet = await startFleet({ host: "127.0.0.1" });
  project.provide("fleetUrl", fleet.url);
  project.provide("fuzzRuns", Number(process.env.FUZZ_RUNS ?? 0));
  return () => fleet.close();
}
