// The systems compared: the nodes with no balancer, two NGINX configs, HAProxy, and Roundhouse
// under wrangler dev. Each starts fresh for every scenario, so no failure state carries over.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startGateway } from "../gateway.ts";
import { findBinary, INSTALL_HINT } from "./binaries.ts";
import { startHaproxy } from "./haproxy.ts";
import { startNginx } from "./nginx.ts";
import { NODE_IDS, type Nodes } from "./nodes.ts";
import { PEERS_DIR, type RunningPeer } from "./peer.ts";
import type { Ports } from "./ports.ts";
import { findGatewayProcesses, workerdUnder } from "./workerd.ts";

export const SYSTEM_NAMES = [
  "direct",
  "nginx",
  "nginx-tuned",
  "haproxy",
  "roundhouse",
  "roundhouse-workerd",
  "roundhouse-lor",
  "roundhouse-outlier",
  "roundhouse-gate-path",
  "workerd-floor",
] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/**
 * Every balancer runs unless --systems narrows the run. The workerd floor is no balancer (it fails
 * whatever the faulty node fails), so it runs only when named, to measure the runtime's own cost;
 * so does the gate-path row, which is the gateway as it was before capacity leases.
 */
export const DEFAULT_SYSTEMS: readonly SystemName[] = SYSTEM_NAMES.filter(
  (name) => name !== "workerd-floor" && name !== "roundhouse-gate-path",
);

/** A system that cannot run on this machine at all: skipped for the whole run, with the reason. */
export class SkipSystem extends Error {
  override name = "SkipSystem";
}

export interface Target {
  /** Where the load goes; several URLs share the connections out between them. */
  readonly urls: readonly string[];
  /** The gateway's own health endpoint, for timing what a request costs with no node involved. */
  readonly health?: { readonly viaWrangler: string; readonly direct?: string };
  /** Roots of the process trees doing the balancing, whose CPU time is charged to the system. */
  readonly pids: readonly number[];
  /** Why the system's figures since start cannot be trusted, if something restarted under it. */
  disturbance?(): string | undefined;
  stop(): Promise<void>;
}

export interface System {
  readonly name: SystemName;
  readonly summary: string;
  start(nodes: Nodes, ports: Ports): Promise<Target>;
}

const SERVICE = "versus";

/** Service settings a Roundhouse row sets beyond the shared ones. */
type ServiceOverrides = Record<string, unknown>;

/** The gateway config: the three nodes, default retry and ejection, HAProxy-like health checks. */
export function gatewayConfig(nodes: Nodes, overrides: ServiceOverrides = {}) {
  return {
    services: [
      {
        name: SERVICE,
        allow: ["127.0.0.0/8"],
        nodes: NODE_IDS.map((id) => ({ id, url: nodes.urls[id] })),
        health: { path: "/health", intervalMs: 2_000 },
        ...overrides,
      },
    ],
  };
}

async function startRoundhouse(
  nodes: Nodes,
  ports: Ports,
  options: {
    overrides?: ServiceOverrides;
    bypassProxy?: boolean;
    file?: string;
    wranglerConfig?: string;
  },
): Promise<Target> {
  const config = gatewayConfig(nodes, options.overrides);
  if (options.file) {
    mkdirSync(PEERS_DIR, { recursive: true });
    writeFileSync(join(PEERS_DIR, options.file), `${JSON.stringify(config, null, 2)}\n`);
  }
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(
      config,
      ports.gateway,
      {},
      {
        ...(options.wranglerConfig ? { wranglerConfig: options.wranglerConfig } : {}),
      },
    );
  } catch (error) {
    const message = String(error);
    if (message.includes("config rejected")) throw new SkipSystem(message);
    throw error;
  }
  const processes = await findGatewayProcesses(ports.gateway);
  const direct = processes?.entryPort;
  if (options.bypassProxy && direct === undefined) {
    await gateway.stop();
    throw new SkipSystem("could not find workerd's own entry port behind wrangler's dev proxy");
  }
  const base = options.bypassProxy ? `http://127.0.0.1:${direct}` : gateway.url;
  return {
    urls: [`${base}/s/${SERVICE}/`],
    health: {
      viaWrangler: `${gateway.url}/_gw/health`,
      direct: direct === undefined ? undefined : `http://127.0.0.1:${direct}/_gw/health`,
    },
    pids: processes ? [processes.wranglerPid] : [],
    disturbance: () => {
      if (!processes) return undefined;
      const now = workerdUnder(processes.wranglerPid).join(",");
      return now === processes.workerdPids.join(",")
        ? undefined
        : "wrangler restarted workerd (a watched source file changed?)";
    },
    stop: () => gateway.stop(),
  };
}

function needs(binary: string): void {
  if (!findBinary(binary)) {
    throw new SkipSystem(`${binary} is not installed; install it with: ${INSTALL_HINT}`);
  }
}

export const SYSTEMS: Record<SystemName, System> = {
  direct: {
    name: "direct",
    summary: "no balancer: the connections are shared out over the three node URLs",
    start: async (nodes) => ({
      urls: NODE_IDS.map((id) => `${nodes.urls[id]}/`),
      pids: [],
      stop: async () => {},
    }),
  },
  nginx: {
    name: "nginx",
    summary: "NGINX upstream round robin, defaults",
    start: (_nodes, ports) => {
      needs("nginx");
      return startNginx("default", ports.nginx, ports.nodes).then(peerTarget);
    },
  },
  "nginx-tuned": {
    name: "nginx-tuned",
    summary: "NGINX with keep-alive, retries on 502/503/504, 1 s connect timeout",
    start: (_nodes, ports) => {
      needs("nginx");
      return startNginx("tuned", ports.nginxTuned, ports.nodes).then(peerTarget);
    },
  },
  haproxy: {
    name: "haproxy",
    summary: "HAProxy round robin, health checks, retries with redispatch",
    start: (_nodes, ports) => {
      needs("haproxy");
      return startHaproxy(ports.haproxy, ports.nodes).then(peerTarget);
    },
  },
  roundhouse: {
    name: "roundhouse",
    summary: "Roundhouse under wrangler dev, default retry and ejection, health checks",
    start: (nodes, ports) => startRoundhouse(nodes, ports, { file: "roundhouse.json" }),
  },
  "roundhouse-workerd": {
    name: "roundhouse-workerd",
    summary: "the same gateway, load sent to workerd past wrangler's dev proxy",
    start: (nodes, ports) =>
      startRoundhouse(nodes, ports, { bypassProxy: true, file: "roundhouse.json" }),
  },
  "roundhouse-lor": {
    name: "roundhouse-lor",
    summary: "Roundhouse with policy least_outstanding",
    start: (nodes, ports) =>
      startRoundhouse(nodes, ports, {
        overrides: { policy: "least_outstanding" },
        file: "roundhouse-lor.json",
      }),
  },
  "roundhouse-outlier": {
    name: "roundhouse-outlier",
    summary: "Roundhouse round robin with latency-aware outlier ejection (its defaults)",
    start: (nodes, ports) =>
      startRoundhouse(nodes, ports, {
        overrides: { latencyEjection: {} },
        file: "roundhouse-outlier.json",
      }),
  },
  "roundhouse-gate-path": {
    name: "roundhouse-gate-path",
    summary: "roundhouse-workerd with capacity leases off: every attempt through the node's gate",
    start: (nodes, ports) =>
      startRoundhouse(nodes, ports, {
        bypassProxy: true,
        overrides: { gate: { lease: false } },
        file: "roundhouse-gate-path.json",
      }),
  },
  "workerd-floor": {
    name: "workerd-floor",
    summary:
      "not a balancer: a bare Worker that round-robins one fetch per request, past the dev proxy",
    start: (nodes, ports) =>
      startRoundhouse(nodes, ports, {
        bypassProxy: true,
        wranglerConfig: "bench/versus/floor/wrangler.toml",
      }),
  },
};

function peerTarget(peer: RunningPeer): Target {
  return { urls: [peer.url], pids: [peer.pid], stop: () => peer.stop() };
}
