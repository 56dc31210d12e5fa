// Child processes of the versus bench (nodes, nginx, haproxy): each runs in the foreground in its
// own process group, and every one still running is signalled on exit, Ctrl-C or a crash, so no
// proxy is left holding a port.
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";

/** A started child: its output so far (for error messages) and a stop that waits for it. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

// gateway.ts exits the process on SIGINT too; whichever handler runs first, the exit hook below
// signals what is left, synchronously, which is all an exit hook may do.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => process.exit(130));
}
process.once("exit", () => {
  for (const child of running) signalGroup(child, "SIGTERM");
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Negative pid: the group this child leads, so nginx's workers go with their master.
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Starts `command` detached in its own process group, keeping the last few KiB of its output. */
export function startChild(name: string, command: string, args: string[], cwd?: string): Child {
  const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  running.add(child);
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4096);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  gone.then(() => running.delete(child));
  const pid = child.pid;
  return {
    name,
    pid,
    output: () => log,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      signalGroup(child, "SIGTERM");
      // A proxy that ignores SIGTERM for 5 s gets no more patience than that.
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Resolves once `port` on loopback accepts a connection; rejects if the child dies or time runs out. */
export async function waitForPort(child: Child, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exited()) {
      throw new Error(`${child.name} exited before listening on ${port}:\n${child.output()}`);
    }
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await child.stop();
  throw new Error(`${child.name} did not listen on ${port} within ${timeoutMs} ms`);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
