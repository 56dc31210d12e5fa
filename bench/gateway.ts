// Runs the real gateway under `wrangler dev` (workerd) for benchmarks, with a config of the bench's.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { offlineEnv } from "../scripts/offline-env.ts";

/** A running gateway. */
export interface Gateway {
  readonly url: string;
  /** Bearer token of this gateway's admin API. */
  readonly adminToken: string;
  /** Stops wrangler and workerd (by process group) and removes the state directory. */
  stop(): Promise<void>;
}

const root = resolve(import.meta.dirname, "..");
const running = new Set<ChildProcess>();

// Ctrl-C or a crash must not leave workerd behind holding ports.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const child of running) killGroup(child);
    process.exit(130);
  });
}
process.once("exit", () => {
  for (const child of running) killGroup(child);
});

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
}

/** How to run wrangler dev beyond the defaults. */
export interface GatewayOptions {
  /** Port of wrangler's inspector proxy; by default any free one, since only profiling uses it. */
  readonly inspectorPort?: number;
  /** Another Worker's wrangler config, relative to the repo (the versus bench's floor Worker). */
  readonly wranglerConfig?: string;
}

/** Starts `wrangler dev` on loopback with `config` as ROUNDHOUSE_CONFIG and waits until it serves. */
export async function startGateway(
  config: unknown,
  port: number,
  /** More vars (secrets included, e.g. PEER_SECRET) to start the gateway with. */
  vars: Readonly<Record<string, string>> = {},
  options: GatewayOptions = {},
): Promise<Gateway> {
  const state = mkdtempSync(join(tmpdir(), "roundhouse-bench-"));
  const adminToken = randomBytes(16).toString("hex");
  const child = spawn(
    process.execPath,
    [
      join(root, "node_modules/.bin/wrangler"),
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(options.inspectorPort ?? 0),
      ...(options.wranglerConfig ? ["--config", options.wranglerConfig] : []),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
      "--log-level",
      "error",
      "--var",
      `ROUNDHOUSE_CONFIG:${JSON.stringify(config)}`,
      "--var",
      `ADMIN_TOKEN:${adminToken}`,
      ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    {
      cwd: root,
      env: { ...process.env, ...offlineEnv() },
      stdio: ["ignore", "inherit", "inherit"],
      detached: true,
    },
  );
  running.add(child);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    killGroup(child);
    if (child.exitCode === null) await new Promise((done) => child.once("exit", done));
    running.delete(child);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      // With the token, a rejected configuration's answer says why, not only where.
      const headers = { authorization: `Bearer ${adminToken}` };
      const health = await fetch(`${url}/_gw/health`, { headers });
      const body = (await health.json()) as { status: string };
      if (body.status !== "ok") throw new Error(`gateway config rejected: ${JSON.stringify(body)}`);
      return { url, adminToken, stop };
    } catch (error) {
      if (String(error).includes("config rejected")) {
        await stop();
        throw error;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error("wrangler dev did not serve within 120 s");
}
