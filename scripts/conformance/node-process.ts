// Starting the node under test with its command, and stopping it, in its own process group.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";

const HOST = "127.0.0.1";
/** Lines of the node's output kept, to explain a node that fails to start. */
const OUTPUT_TAIL_LINES = 20;

/** How the node process ended. */
export interface ExitInfo {
  /** Exit status, or null if a signal ended it. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
}

/** A running node under test. */
export interface NodeProcess {
  /** The loopback port the node listens on. */
  readonly port: number;
  /** ws:// URL of its stream endpoint. */
  readonly streamUrl: string;
  /** http:// URL of its health endpoint. */
  readonly healthUrl: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** Whether the process has exited. */
  readonly alive: boolean;
  /**
   * Sends `signal` to the node: to every process of its group but the shell that started it,
   * so that the shell survives to report the node's exit status.
   */
  signal(signal: NodeJS.Signals): void;
  /** Stops the node: SIGTERM to its group, then SIGKILL if it lingers. */
  stop(): Promise<void>;
  /** The last lines the node printed. */
  output(): string;
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command` with /bin/sh -c and PORT set, and waits until GET /health answers 200.
 * Throws (with the node's last output) if it exits or stays unhealthy for `readyTimeoutMs`.
 */
export async function startNode(command: string, readyTimeoutMs = 10_000): Promise<NodeProcess> {
  const port = await freePort();
  const child = spawn("/bin/sh", ["-c", command], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that a signal reaches the node and anything it started.
    detached: true,
  });
  const node = wrap(child, port);
  const deadline = Date.now() + readyTimeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (!node.alive) {
      const info = await node.exited;
      throw new Error(
        `node exited before it was healthy (${exitText(info)})${tail(node.output())}`,
      );
    }
    try {
      const response = await fetch(node.healthUrl, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return node;
      last = `GET /health answered ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await node.stop();
  throw new Error(`node not healthy within ${readyTimeoutMs} ms (${last})${tail(node.output())}`);
}

function wrap(child: ChildProcess, port: number): NodeProcess {
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - OUTPUT_TAIL_LINES));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let alive = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!alive || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  return {
    port,
    streamUrl: `ws://${HOST}:${port}/_roundhouse/stream`,
    healthUrl: `http://${HOST}:${port}/health`,
    exited,
    get alive() {
      return alive;
    },
    signal(signal) {
      if (!alive || child.pid === undefined) return;
      const others = groupMembers(child.pid).filter((pid) => pid !== child.pid);
      // No others: the shell exec'd the command, so the pid is the node's own.
      for (const pid of others.length > 0 ? others : [child.pid]) {
        try {
          process.kill(pid, signal);
        } catch {
          // It ended meanwhile.
        }
      }
    },
    async stop() {
      signalGroup("SIGTERM");
      const timer = setTimeout(() => signalGroup("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
      // Whatever the shell left behind in the group goes too.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Nothing left.
        }
      }
    },
    output: () => lines.join("\n"),
  };
}

/**
 * The processes of group `pgid`. Some shells (dash) do not exec the last command of `sh -c`, and
 * a signal to the whole group would end the shell too, hiding the node's exit status.
 */
function groupMembers(pgid: number): number[] {
  try {
    const listed = execFileSync("pgrep", ["-g", String(pgid)], { encoding: "utf8" });
    return listed.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // pgrep found none, or is missing: the group leader alone.
    return [pgid];
  }
}

/** An exit in words. */
export function exitText(info: ExitInfo): string {
  return info.signal ? `killed by ${info.signal}` : `exit status ${info.code}`;
}

function tail(output: string): string {
  return output ? `; its output ends:\n${output}` : "";
}
