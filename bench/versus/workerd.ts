// Finds the processes behind a gateway started by bench/gateway.ts. Under `wrangler dev` the port
// we ask for belongs to a proxy workerd; the worker runs in a sibling workerd with an entry port of
// its own. Timing both tells what the dev proxy costs, a cost no deployed Worker pays.
import { listenersByPid, parentOf } from "./procs.ts";

export interface GatewayProcesses {
  /** The wrangler process: its tree holds both workerd processes. */
  readonly wranglerPid: number;
  /** Its workerd processes, sorted. */
  readonly workerdPids: readonly number[];
  /** The gateway's own entry port, past the dev proxy, if one answers as the gateway. */
  readonly entryPort: number | undefined;
}

export async function findGatewayProcesses(
  proxyPort: number,
): Promise<GatewayProcesses | undefined> {
  const listeners = listenersByPid();
  const proxyPid = [...listeners].find(([, l]) => l.ports.includes(proxyPort))?.[0];
  if (proxyPid === undefined) return undefined;
  const wranglerPid = parentOf(proxyPid);
  if (wranglerPid === undefined) return undefined;
  const workerdPids = workerdUnder(wranglerPid);
  // Only our own wrangler's other workerd is probed: other sessions' gateways are none of ours.
  for (const pid of workerdPids) {
    if (pid === proxyPid) continue;
    for (const port of listeners.get(pid)?.ports ?? []) {
      if (await servesGateway(port)) return { wranglerPid, workerdPids, entryPort: port };
    }
  }
  return { wranglerPid, workerdPids, entryPort: undefined };
}

/**
 * The workerd processes wrangler runs now. Wrangler restarts them when a watched source file
 * changes, which other people's edits can do in the middle of a run; a changed list tells.
 */
export function workerdUnder(wranglerPid: number): number[] {
  return [...listenersByPid()]
    .filter(([pid, { command }]) => command === "workerd" && parentOf(pid) === wranglerPid)
    .map(([pid]) => pid)
    .sort((a, b) => a - b);
}

async function servesGateway(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/_gw/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await response.json()) as { status?: string };
    return body.status === "ok";
  } catch {
    return false;
  }
}
