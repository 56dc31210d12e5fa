// CPU time of a process tree, read from /proc. On two shared cores every system's throughput and
// latency move with whatever else runs; CPU spent per request is the figure that does not.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

// USER_HZ: the unit of utime and stime in /proc/<pid>/stat; 100 on every Linux this runs on.
const TICKS_PER_SECOND = 100;

/** Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and ")". */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

export function parentOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[1]) : undefined;
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return [pid];
  }
  for (const entry of entries) {
    const child = Number(entry);
    const parent = parentOf(child);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** User plus system CPU seconds used so far by the trees under `roots`; 0 where /proc is absent. */
export function cpuSeconds(roots: readonly number[]): number {
  let ticks = 0;
  for (const pid of roots.flatMap(processTree)) {
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Listening TCP ports on 127.0.0.1 by pid, as `ss` reports them; empty without `ss`. */
export function listenersByPid(): Map<number, { command: string; ports: number[] }> {
  const byPid = new Map<number, { command: string; ports: number[] }>();
  let listing: string;
  try {
    listing = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
  } catch {
    return byPid;
  }
  for (const line of listing.split("\n")) {
    const match = /127\.0\.0\.1:(\d+)\s.*\("([^"]+)",pid=(\d+)/.exec(line);
    if (!match) continue;
    const pid = Number(match[3]);
    const entry = byPid.get(pid) ?? { command: match[2] as string, ports: [] };
    entry.ports.push(Number(match[1]));
    byPid.set(pid, entry);
  }
  return byPid;
}
