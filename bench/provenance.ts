// The commit a benchmark measured and whether the tree matched it, read from git, so that every
// results JSON says which code its figures belong to.
import { execFileSync } from "node:child_process";

/** What a result records about the code it measured. */
export interface Provenance {
  /** `git rev-parse HEAD` when the run started. */
  readonly commit: string;
  /** No change to tracked or untracked files besides the benchmarks' own output, start to end. */
  readonly clean: boolean;
}

/**
 * What benchmarks write themselves (results, charts, the peer configs versus generates): a run
 * that rewrites them, or follows one that did, still measured the committed code.
 */
export const BENCH_OUTPUT = ["bench/results/**", "bench/peers/**", "docs/*.svg"] as const;

/** The commit checked out in `dir` and whether the tree is clean; throws outside a git checkout. */
export function readProvenance(dir: string): Provenance {
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  let commit: string;
  try {
    commit = git("rev-parse", "HEAD").trim();
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || String(error);
    throw new Error(
      `benchmarks record the commit they measure, and ${dir} is no git checkout (${detail}); ` +
        "measure in a clone or a `git worktree` (docs/benchmarks.md)",
    );
  }
  const changes = git(
    "status",
    "--porcelain",
    "--untracked-files=all",
    "--",
    ".",
    ...BENCH_OUTPUT.map((glob) => `:(exclude,glob)${glob}`),
  );
  return { commit, clean: changes.trim() === "" };
}

/**
 * The provenance of a run that started with `atStart`: its commit, and clean only if the tree was
 * clean then and still is at the same commit now (a change in between may have been measured).
 */
export function provenanceSince(atStart: Provenance, now: Provenance): Provenance {
  return {
    commit: atStart.commit,
    clean: atStart.clean && now.clean && now.commit === atStart.commit,
  };
}

/** "3383c3d, clean tree" or "3383c3d with uncommitted changes", for table headers and footers. */
export function describeProvenance(p: Provenance): string {
  return `${p.commit.slice(0, 7)}${p.clean ? ", clean tree" : " with uncommitted changes"}`;
}
