import { isIP } from "node:net";
import { parseArgs } from "node:util";
import type { Fleet } from "./fleet.ts";
import { type LaunchOptions, launchFleet } from "./launch.ts";
import { ListenError } from "./server-lifecycle.ts";

const USAGE = `usage: node backend/cli.ts [--nodes 3] [--base-port 9101] [--control-port 9100]
                           [--delay-ms 0] [--host 127.0.0.1] [--functions module.ts]
Runs reference backend nodes node-1..N on consecutive ports (base port 0: free ports)
plus a JSON control server. Loopback hosts only. --functions runs your module's
default { invoke(request) } for invocations (see docs/protocol.md).`;

/** Bad command-line input; main prints it with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses the CLI arguments (without node and script) into launch options, or throws UsageError. */
export function parseCli(args: string[]): LaunchOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        nodes: { type: "string", default: "3" },
        "base-port": { type: "string", default: "9101" },
        "control-port": { type: "string", default: "9100" },
        "delay-ms": { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        functions: { type: "string" },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const host = values.host ?? "";
  if (!isLoopback(host)) {
    throw new UsageError(`--host ${host} is not a loopback address: this is a test/demo backend`);
  }
  const nodes = integer(values.nodes, "--nodes", 1, 1000);
  const basePort = integer(values["base-port"], "--base-port", 0, 65535);
  if (basePort !== 0 && basePort + nodes - 1 > 65535) {
    throw new UsageError(`--base-port ${basePort} leaves no room for ${nodes} nodes`);
  }
  return {
    host,
    nodes,
    basePort,
    controlPort: integer(values["control-port"], "--control-port", 0, 65535),
    delayMs: integer(values["delay-ms"], "--delay-ms", 0, 600_000),
    functionsModule: values.functions,
  };
}

/** Whether `host` names this machine only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

function integer(raw: string | undefined, flag: string, min: number, max: number): number {
  const value = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function printFleet(fleet: Fleet): void {
  for (const node of fleet.nodes.values()) console.log(`${node.id.padEnd(8)} ${node.url}`);
  console.log(`${"control".padEnd(8)} ${fleet.url}`);
}

async function main(): Promise<void> {
  let options: LaunchOptions;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  let fleet: Fleet;
  try {
    fleet = await launchFleet(options);
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
    return;
  }
  printFleet(fleet);
  console.error("backend running; Ctrl-C to stop");
  const stop = () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    fleet.close().then(
      () => {
        process.exitCode = 0;
      },
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (import.meta.main) await main();
