// The results schemas of bench/schemas.ts against a sample of each benchmark's JSON (written by
// `npm run bench -- smoke` and committed under test/fixtures/bench-results/).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkResult, RESULT_SCHEMAS, type ResultKind } from "../../bench/schemas.ts";
import type { SuiteEntry } from "../../bench/suite.ts";
import { ALL, SMOKE, versusRowsPresent } from "../../bench/suites.ts";

const sample = (kind: ResultKind): Record<string, unknown> =>
  JSON.parse(
    readFileSync(new URL(`../fixtures/bench-results/${kind}.json`, import.meta.url), "utf8"),
  );

/** The sample with the field at `path` (dot-separated) removed. */
function without(kind: ResultKind, path: string): Record<string, unknown> {
  const json = sample(kind);
  const keys = path.split(".");
  const last = keys.pop() as string;
  let at = json as Record<string, unknown>;
  for (const key of keys) at = at[key] as Record<string, unknown>;
  expect(at).toHaveProperty([last]);
  delete at[last];
  return json;
}

/** For each benchmark, figures its docs name. */
const NAMED: Record<ResultKind, readonly string[]> = {
  dispatch: ["scaling.node.4", "coordinatorRoundTripsPerDispatch", "peakHandshakesPerNode"],
  failover: ["failoverMs", "outages", "discoveryPerMinuteIdle"],
  leases: ["cells", "ceiling.leasedReqPerSec", "targets.doRoundTripsPerDispatchAtLimit64"],
  "peer-sync": ["peakInFlightObservedByPeers", "p99Ratio.twentyHung", "convergeRecoveredMs"],
  policies: ["hash.movedOnAdd", "retryBudget.attemptsPerRequest.on", "hedging.p99Ms.off"],
  profile: ["perRequestUs", "top", "settings.worker"],
  stream: ["ratios.asyncOverSync", "ratios.gateOverNodeClientAsync.value", "invokePerSec.http"],
  versus: ["floorRatio", "scenarios.healthy.roundhouse-workerd.cpuMsPerRequest", "skipped"],
};

describe("results schemas", () => {
  it.each(Object.keys(RESULT_SCHEMAS) as ResultKind[])("accept the %s sample", (kind) => {
    expect(checkResult(kind, sample(kind))).toEqual([]);
  });

  it.each(
    (Object.keys(NAMED) as ResultKind[]).flatMap((kind) => NAMED[kind].map((path) => [kind, path])),
  )("reject a %s result without %s, naming it", (kind, path) => {
    const problems = checkResult(kind as ResultKind, without(kind as ResultKind, path));
    expect(problems.some((line) => line.startsWith(`${path}:`))).toBe(true);
  });

  it.each(["commit", "clean"])("reject any result without its %s", (field) => {
    for (const kind of Object.keys(RESULT_SCHEMAS) as ResultKind[]) {
      expect(checkResult(kind, without(kind, field))).toEqual([
        expect.stringMatching(new RegExp(`^${field}:`)),
      ]);
    }
  });

  it("rejects a figure that was not measured (NaN, which JSON writes as null)", () => {
    const json = sample("stream");
    (json.ratios as { asyncOverSync: { value: unknown } }).asyncOverSync.value = null;
    expect(checkResult("stream", json)).toEqual([
      expect.stringMatching(/^ratios\.asyncOverSync\.value:/),
    ]);
  });

  it("rejects a commit that is not a full commit id", () => {
    const json = sample("dispatch");
    json.commit = "3383c3d";
    expect(checkResult("dispatch", json)).toEqual([expect.stringMatching(/^commit:/)]);
  });
});

describe("versus rows in a suite", () => {
  it("pass when every system measured every scenario", () => {
    expect(versusRowsPresent({ versus: sample("versus") })).toEqual([]);
  });

  it("name a Roundhouse row that failed, with the reason versus recorded", () => {
    const json = sample("versus") as {
      scenarios: { healthy: Record<string, unknown> };
      skipped: Record<string, string>;
    };
    delete json.scenarios.healthy.roundhouse;
    json.skipped["healthy/roundhouse"] = "wrangler dev exited with 1";
    expect(versusRowsPresent({ versus: json })).toEqual([
      "versus.json: healthy / roundhouse missing: wrangler dev exited with 1",
    ]);
  });
});

describe("the suites' versus runs", () => {
  const runs = [...SMOKE, ...ALL].filter((entry) => entry.bench === "versus");

  it.each(runs.map((entry): [string, SuiteEntry] => [entry.label ?? entry.bench, entry]))(
    "%s parses, and writes the file the suite checks",
    async (_label, entry) => {
      const { parseSettings } = await import("../../bench/versus/settings.ts");
      const settings = parseSettings([...entry.argv]);
      expect(entry.writes).toEqual([{ file: settings.out, kind: "versus" }]);
    },
  );
});
