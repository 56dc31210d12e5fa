// Runs one peer proxy (nginx or haproxy) in the foreground from a config file written into
// bench/peers/, with its pid, logs and temp files in a directory of its own that goes on stop.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startChild, waitForPort } from "./children.ts";

/** Where the generated peer configs go: committed, so readers see exactly what was measured. */
export const PEERS_DIR = resolve(import.meta.dirname, "../peers");

export interface RunningPeer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface PeerLaunch {
  /** Name in messages and of the temp directory. */
  readonly name: string;
  /** File name under bench/peers/. */
  readonly file: string;
  readonly config: string;
  readonly binary: string;
  /** Arguments, given the config path and the temp directory. */
  readonly args: (configPath: string, dir: string) => string[];
  readonly port: number;
}

/** Writes the config, starts the proxy and resolves once it accepts connections. */
export async function startPeer(launch: PeerLaunch): Promise<RunningPeer> {
  mkdirSync(PEERS_DIR, { recursive: true });
  const configPath = join(PEERS_DIR, launch.file);
  writeFileSync(configPath, launch.config);
  const dir = mkdtempSync(join(tmpdir(), `roundhouse-versus-${launch.name}-`));
  // nginx drops root for its workers (user nobody), which must still reach their temp files.
  chmodSync(dir, 0o755);
  const child = startChild(launch.name, launch.binary, launch.args(configPath, dir), dir);
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(child, launch.port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${launch.port}/`, pid: child.pid, stop };
}
