import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import type { Fleet } from "../backend/fleet.ts";
import { launchFleet } from "../backend/launch.ts";
import { ListenError } from "../backend/server-lifecycle.ts";
import { MIN_SECRET_BYTES } from "../src/config/secrets.ts";
import { offlineEnv } from "./offline-env.ts";

// These addresses are also written into ROUNDHOUSE_CONFIG in wrangler.toml: change both together.
const HOST = "127.0.0.1";
const CONTROL_PORT = 9100;
const BASE_PORT = 9101;
const NODE_COUNT = 3;
/** The Python demo node's port (service `py`). */
const PYTHON_PORT = 9201;
const PYTHON_NODE = path.join("nodes", "python", "examples", "demo_node.py");
const GATEWAY_PORT = 8787;
const GATEWAY = `http://${HOST}:${GATEWAY_PORT}`;
const HEALTH_URL = `${GATEWAY}/_gw/health`;
/** First runs bundle the worker and boot workerd, which can take a while on a cold machine. */
const READY_DEADLINE_MS = 120_000;
const POLL_INTERVAL_MS = 250;
const WRANGLER_STOP_GRACE_MS = 10_000;

const ROOT = path.resolve(import.meta.dirname, "..");
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");

function portLabel(port: number): string {
  if (port === CONTROL_PORT) return "the demo node control server";
  if (port === GATEWAY_PORT) return "wrangler dev";
  if (port === PYTHON_PORT) return "the Python demo node";
  return `demo node node-${port - BASE_PORT + 1}`;
}

function fail(message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

/** Wrangler's own message for a busy port is easy to miss in its output, so check first. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      reject(new ListenError(HOST, port, error));
    });
    probe.listen({ host: HOST, port }, () => probe.close(() => resolve()));
  });
}

async function startBackend(): Promise<Fleet> {
  try {
    await assertPortFree(GATEWAY_PORT);
    await assertPortFree(PYTHON_PORT);
    return await launchFleet({
      host: HOST,
      nodes: NODE_COUNT,
      basePort: BASE_PORT,
      controlPort: CONTROL_PORT,
      delayMs: 0,
    });
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    const taken =
      error.code === "EADDRINUSE" ? "is already in use" : `cannot be bound (${error.message})`;
    fail(
      `port ${error.port} (${portLabel(error.port)}) ${taken}; stop whatever holds it and retry`,
    );
  }
}

/**
 * The Python demo node behind service `py`, when Debian's python3-websockets is installed; the
 * gateway runs without it (its invocations then answer 503).
 */
function startPythonNode(): ChildProcess | undefined {
  const probe = spawnSync("/usr/bin/python3", ["-c", "import websockets"], { stdio: "ignore" });
  if (probe.status !== 0) {
    console.warn(
      "npm start: no Python demo node (service py): python3 with websockets is missing; " +
        "install it with `apt-get install python3-websockets`",
    );
    return undefined;
  }
  return spawn("/usr/bin/python3", [PYTHON_NODE], {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, PORT: String(PYTHON_PORT) },
  });
}

function startWrangler(): ChildProcess {
  if (!existsSync(WRANGLER)) fail(`wrangler not found at ${WRANGLER}; run npm install first`);
  // process.execPath keeps wrangler on the same Node as this script rather than whatever `env node` finds.
  return spawn(process.execPath, [WRANGLER, "dev", "--ip", HOST, "--port", String(GATEWAY_PORT)], {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, ...offlineEnv() },
  });
}

/** Resolves with the exit code once the child is gone (1 if a signal ended it). */
function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("error", (error) => {
      console.error(`npm start: cannot run wrangler: ${error.message}`);
      resolve(1);
    });
    child.once("exit", (code) => resolve(code ?? 1));
  });
}

/** Polls the gateway until it answers at all; false if wrangler exits or the deadline passes. */
async function waitForGateway(exited: Promise<number>): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (!gone && Date.now() < deadline) {
    try {
      const res = await fetch(HEALTH_URL, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return true;
    } catch {
      // Not listening yet: poll again, but wake at once if wrangler dies meanwhile.
      await Promise.race([exited, new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))]);
    }
  }
  return false;
}

function printBanner(fleet: Fleet, adminToken: string): void {
  const nodes = [...fleet.nodes.values()].map((node) => `${node.id} ${node.url}`).join(", ");
  console.log(`
Roundhouse is up: try  curl -i ${GATEWAY}/s/echo/hello
Functions on the Python node: curl -X POST --data 'hello' ${GATEWAY}/v1/invoke/py/upper
Demo nodes: ${nodes}
Control them at ${fleet.url}, e.g.
  curl -X POST -d '{"mode":"fail"}' ${fleet.url}/nodes/node-2/behaviour
Admin API (token from .dev.vars):
  curl -H 'authorization: Bearer ${adminToken}' ${GATEWAY}/_gw/services/echo
`);
}

async function stopWrangler(child: ChildProcess, exited: Promise<number>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  }, WRANGLER_STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

const DEV_VARS = path.join(ROOT, ".dev.vars");

/**
 * A local secret: read from .dev.vars, or minted into it (replacing one shorter than the
 * gateway accepts, as an older version wrote).
 */
function devSecret(name: string): string {
  const vars = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, "utf8") : "";
  const line = new RegExp(`^${name}=(.*)$`, "m");
  const existing = line.exec(vars)?.[1]?.trim();
  if (existing && existing.length >= MIN_SECRET_BYTES) return existing;
  const value = `dev-${randomBytes(16).toString("hex")}`;
  if (existing === undefined) appendFileSync(DEV_VARS, `${name}=${value}\n`);
  else writeFileSync(DEV_VARS, vars.replace(line, `${name}=${value}`));
  return value;
}

/** The local admin token. */
function devAdminToken(): string {
  return devSecret("ADMIN_TOKEN");
}

/** The local peer sync secret (a required secret, unused until peers are configured). */
function ensureDevPeerSecret(): void {
  devSecret("PEER_SECRET");
}

async function main(): Promise<void> {
  const adminToken = devAdminToken();
  ensureDevPeerSecret();
  const fleet = await startBackend();
  const python = startPythonNode();
  const wrangler = startWrangler();
  const exited = exitOf(wrangler);

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await stopWrangler(wrangler, exited);
    python?.kill("SIGTERM");
    await fleet.close();
    process.exit(code);
  };
  process.once("SIGINT", () => void shutdown(130));
  process.once("SIGTERM", () => void shutdown(143));
  void exited.then((code) => {
    if (!stopping) console.error(`npm start: wrangler exited with code ${code}`);
    return shutdown(code);
  });

  if (await waitForGateway(exited)) {
    printBanner(fleet, adminToken);
  } else if (!stopping) {
    console.error(`npm start: ${HEALTH_URL} did not answer within ${READY_DEADLINE_MS / 1000} s`);
    await shutdown(1);
  }
}

await main();
