// Every results JSON names the commit it measured and whether the tree was clean: read from git
// (bench/provenance.ts) and stamped by the one write path every benchmark goes through.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { provenanceSince, readProvenance } from "../../bench/provenance.ts";
import { RESULTS_DIR_VAR, writeResult } from "../../bench/report.ts";

let dir: string;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@example.com", ...args], {
    cwd: dir,
    encoding: "utf8",
  }).trim();
const write = (path: string, text = "x\n") => {
  mkdirSync(join(dir, path, ".."), { recursive: true });
  writeFileSync(join(dir, path), text);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bench-provenance-"));
  git("init", "-q");
  write("src/app.ts");
  write("bench/results/dispatch.json");
  git("add", ".");
  git("commit", "-q", "--no-gpg-sign", "-m", "first");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("readProvenance", () => {
  it("names HEAD and calls a tree without changes clean", () => {
    expect(readProvenance(dir)).toEqual({ commit: git("rev-parse", "HEAD"), clean: true });
  });

  it("calls the tree clean when only benchmark output changed", () => {
    write("bench/results/dispatch.json", "rewritten\n");
    write("bench/results/smoke/stream.json");
    write("bench/peers/nginx.conf");
    write("docs/versus.svg");
    expect(readProvenance(dir).clean).toBe(true);
  });

  it.each([
    ["a tracked file changed", () => write("src/app.ts", "changed\n")],
    ["a new file", () => write("src/new.ts")],
    ["a new file in docs that is not a chart", () => write("docs/notes.md")],
  ])("calls the tree dirty with %s", (_, change) => {
    change();
    expect(readProvenance(dir).clean).toBe(false);
  });

  it("refuses a directory that is no git checkout, saying how to measure instead", () => {
    const plain = mkdtempSync(join(tmpdir(), "bench-plain-"));
    try {
      expect(() => readProvenance(plain)).toThrow(/no git checkout.*git worktree/s);
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });
});

describe("provenanceSince", () => {
  const start = { commit: "a".repeat(40), clean: true };

  it("keeps the start's commit and stays clean while nothing changed", () => {
    expect(provenanceSince(start, start)).toEqual(start);
  });

  it.each([
    ["the tree changed during the run", { commit: start.commit, clean: false }],
    ["another commit was checked out", { commit: "b".repeat(40), clean: true }],
  ])("is not clean when %s", (_, now) => {
    expect(provenanceSince(start, now)).toEqual({ commit: start.commit, clean: false });
  });

  it("is not clean when the run started dirty", () => {
    expect(provenanceSince({ ...start, clean: false }, start).clean).toBe(false);
  });
});

describe("writeResult", () => {
  const repo = resolve(import.meta.dirname, "../..");
  const stream = () => {
    const json = JSON.parse(
      readFileSync(resolve(repo, "test/fixtures/bench-results/stream.json"), "utf8"),
    ) as Record<string, unknown>;
    delete json.commit;
    delete json.clean;
    return json;
  };
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env[RESULTS_DIR_VAR];
    process.env[RESULTS_DIR_VAR] = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[RESULTS_DIR_VAR];
    else process.env[RESULTS_DIR_VAR] = saved;
  });

  it("stamps the file with this checkout's commit and tree state, and prints the commit", () => {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" });
    const line = writeResult("stream", stream(), "stamped");
    const written = JSON.parse(readFileSync(join(dir, "stamped.json"), "utf8"));
    expect(written.commit).toBe(head.trim());
    expect(typeof written.clean).toBe("boolean");
    expect(line).toContain(head.slice(0, 7));
  });

  it("writes a result short of a field, then fails naming the field", () => {
    const short = stream();
    delete short.ratios;
    expect(() => writeResult("stream", short, "short")).toThrow(
      /stream results schema[\s\S]*ratios/,
    );
    expect(JSON.parse(readFileSync(join(dir, "short.json"), "utf8"))).toHaveProperty("commit");
  });
});
