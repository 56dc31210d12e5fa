// `npm run bench -- smoke` and `all` (bench/suite.ts): a benchmark that cannot start, throws,
// hangs, writes nothing or writes a file short of a field fails the suite, with a message that
// says which and why. Fake benchmarks stand in for the real ones.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  childRunner,
  type Outcome,
  reportOutcomes,
  runSuite,
  type SuiteEntry,
} from "../../bench/suite.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bench-suite-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sample = readFileSync(resolve(import.meta.dirname, "../fixtures/bench-results/stream.json"));
const entry = (bench: string, extra: Partial<SuiteEntry> = {}): SuiteEntry => ({
  bench,
  argv: [],
  writes: [{ file: bench, kind: "stream" }],
  ...extra,
});

describe("runSuite", () => {
  it("passes a benchmark that wrote a result matching its schema, and runs its own check", async () => {
    const check = vi.fn(() => []);
    const [outcome] = await runSuite([entry("good", { check })], {
      resultsDir: dir,
      run: async (e, into) => writeFileSync(join(into, `${e.bench}.json`), sample),
    });
    expect(outcome?.problems).toEqual([]);
    expect(check).toHaveBeenCalledWith({ good: JSON.parse(sample.toString()) });
  });

  it("fails a benchmark that throws, and goes on to the next", async () => {
    const outcomes = await runSuite([entry("broken"), entry("good")], {
      resultsDir: dir,
      run: async (e, into) => {
        if (e.bench === "broken") throw new Error("gateway config rejected");
        writeFileSync(join(into, `${e.bench}.json`), sample);
      },
    });
    expect(outcomes.map((o) => o.label)).toEqual(["broken", "good"]);
    expect(outcomes[0]?.problems).toEqual([
      "did not complete: gateway config rejected",
      expect.stringMatching(/^wrote no .*broken\.json$/),
    ]);
    expect(outcomes[1]?.problems).toEqual([]);
  });

  it("fails a benchmark whose file lacks a field, naming the field", async () => {
    const short = JSON.parse(sample.toString());
    delete short.ratios.inOrderOverAsync;
    const [outcome] = await runSuite([entry("short")], {
      resultsDir: dir,
      run: async (e, into) => writeFileSync(join(into, `${e.bench}.json`), JSON.stringify(short)),
    });
    expect(outcome?.problems).toEqual([
      expect.stringMatching(/short\.json: ratios\.inOrderOverAsync: /),
    ]);
  });

  it("does not take a file left by an earlier run for this run's", async () => {
    writeFileSync(join(dir, "stale.json"), sample);
    const [outcome] = await runSuite([entry("stale")], { resultsDir: dir, run: async () => {} });
    expect(outcome?.problems).toEqual([expect.stringMatching(/^wrote no .*stale\.json$/)]);
  });
});

describe("reportOutcomes", () => {
  const ok: Outcome = { label: "dispatch", seconds: 1, problems: [] };
  const failed: Outcome = { label: "stream", seconds: 2, problems: ["wrote no stream.json"] };

  it("is true only when every benchmark passed, and names the ones that failed", () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      expect(reportOutcomes("smoke", [ok])).toBe(true);
      expect(reportOutcomes("smoke", [ok, failed])).toBe(false);
      expect(errors.mock.calls.flat().join("\n")).toMatch(/1 of 2 failed \(stream\)/);
    } finally {
      vi.restoreAllMocks();
    }
  });
});

describe("childRunner", () => {
  const fake = resolve(import.meta.dirname, "fake-bench.ts");
  const run = (bench: string, timeoutMs = 60_000) =>
    runSuite([entry(bench, { writes: [{ file: "stream", kind: "stream" }] })], {
      resultsDir: dir,
      run: childRunner(timeoutMs, fake),
    });
  const quiet = () => vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  afterEach(() => vi.restoreAllMocks());

  it("passes a benchmark process that wrote its result where the suite said", async () => {
    const [outcome] = await run("writes");
    expect(outcome?.problems).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, "stream.json"), "utf8"))).toHaveProperty("commit");
  });

  it("fails a benchmark process that throws, quoting its error", async () => {
    quiet();
    const [outcome] = await run("throws");
    expect(outcome?.problems[0]).toMatch(
      /^did not complete: exited with code 1:[\s\S]*the fake bench cannot start/,
    );
  });

  it("stops a benchmark process that overruns its time, and fails it", async () => {
    quiet();
    const [outcome] = await run("hangs", 200);
    expect(outcome?.problems).toEqual([
      "did not complete: did not finish within 0.2 s",
      expect.stringMatching(/^wrote no /),
    ]);
  });
});
