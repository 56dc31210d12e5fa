import { type Fleet, startFleet } from "./fleet.ts";
import { loadFunctions } from "./functions.ts";

/** A fleet of numbered nodes, as the CLI and the dev script run it. */
export interface LaunchOptions {
  /** Address for everything; loopback in practice. */
  host: string;
  /** How many nodes: node-1..node-N. */
  nodes: number;
  /** Port of node-1, the rest follow consecutively; 0 gives every node a free port. */
  basePort: number;
  /** Control server port; 0 picks a free one. */
  controlPort: number;
  /** Initial delayMs of every node. */
  delayMs: number;
  /** Path of a functions module the nodes run invocations with; default the scripted echo. */
  functionsModule?: string;
}

/** Starts the control server and node-1..node-N; closes everything again if any of them fails. */
export async function launchFleet(options: LaunchOptions): Promise<Fleet> {
  const functions = options.functionsModule
    ? await loadFunctions(options.functionsModule)
    : undefined;
  const fleet = await startFleet({ host: options.host, port: options.controlPort });
  try {
    for (let n = 1; n <= options.nodes; n += 1) {
      await fleet.addNode({
        id: `node-${n}`,
        port: options.basePort === 0 ? 0 : options.basePort + n - 1,
        behaviour: { delayMs: options.delayMs },
        functions,
      });
    }
    return fleet;
  } catch (error) {
    await fleet.close();
    throw error;
  }
}
