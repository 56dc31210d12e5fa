// Finds the peer proxies' binaries without installing anything: a missing one is skipped, and the
// bench says how to install it.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export const INSTALL_HINT = "sudo apt-get install nginx haproxy";

// Debian puts daemons in sbin, which an ordinary user's PATH often lacks.
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/** Absolute path of an executable named `name`, or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The version line a binary prints, e.g. "nginx version: nginx/1.22.1", or undefined. */
export function versionOf(name: "nginx" | "haproxy"): string | undefined {
  const binary = findBinary(name);
  if (!binary) return undefined;
  // nginx prints its version on stderr, haproxy on stdout.
  const run = spawnSync(binary, ["-v"], { encoding: "utf8" });
  return `${run.stdout}${run.stderr}`.split("\n")[0]?.trim();
}
