// Stands in for bench/run.ts in the suite tests: the benchmark name says what this one does.
import { readFileSync } from "node:fs";
import { writeResult } from "../../bench/report.ts";

const [mode] = process.argv.slice(2);
if (mode === "throws") throw new Error("the fake bench cannot start");
if (mode === "hangs") setInterval(() => {}, 60_000);
if (mode === "writes") {
  const sample = JSON.parse(
    readFileSync(new URL("../fixtures/bench-results/stream.json", import.meta.url), "utf8"),
  ) as Record<string, unknown>;
  delete sample.commit;
  delete sample.clean;
  writeResult("stream", sample);
}
