// Starts a stream node from a command line, as the conformance suite and the stream benchmark
// do: on a free loopback port passed as $PORT, in a process group of its own, ready once its
// `GET /health` answers 200.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

/** The three implementations of the node side of the protocol, by name. */
export const IMPLEMENTATIONS = {
  reference: "node backend/conformance-node.ts",
  typescript: "node nodes/typescript/examples/conformance-node.ts",
  python: "python3 nodes/python/examples/conformance_node.py",
} as const;

/** A node started by startNodeCommand. */
export interface RunningNode {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null if a signal ended it) once the process is gone. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, the node's signal to drain, to the process group. */
  terminate(): void;
  /** Stops the node: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** A port nothing listens on at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Runs `command` with `/bin/sh -c` and waits until its node answers `GET /health`. */
export async function startNodeCommand(
  command: string,
  { readyMs = 15_000 }: { readonly readyMs?: number } = {},
): Promise<RunningNode> {
  const port = await freePort();
  const child = spawn("/bin/sh", ["-c", `exec ${command}`], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const signal = (name: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, name);
    } catch {
      // Already gone.
    }
  };
  const node: RunningNode = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    exited,
    terminate: () => signal("SIGTERM"),
    async stop(graceMs = 5_000) {
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + readyMs;
  while (!gone && Date.now() < deadline) {
    try {
      const response = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return node;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await node.stop(1_000);
  throw new Error(
    `${command}: ${gone ? "exited" : "no healthy answer"} before it served on ${port}`,
  );
}
