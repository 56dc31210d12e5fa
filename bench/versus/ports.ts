// Fixed ports from one base, so the peer configs written into bench/peers/ stay the same from run
// to run and a diff of them means a change of settings, not of ports.
import { accepts } from "./children.ts";

export interface Ports {
  readonly control: number;
  readonly nodes: readonly [number, number, number];
  readonly nginx: number;
  readonly nginxTuned: number;
  readonly haproxy: number;
  readonly gateway: number;
}

export function portsFrom(base: number): Ports {
  return {
    control: base,
    nodes: [base + 1, base + 2, base + 3],
    nginx: base + 10,
    nginxTuned: base + 11,
    haproxy: base + 12,
    gateway: base + 20,
  };
}

/** Throws, naming them, if any of the ports is already taken by something else on loopback. */
export async function checkFree(ports: Ports): Promise<void> {
  const all = [
    ports.control,
    ...ports.nodes,
    ports.nginx,
    ports.nginxTuned,
    ports.haproxy,
    ports.gateway,
  ];
  const taken = (await Promise.all(all.map(async (p) => ((await accepts(p)) ? p : 0)))).filter(
    Boolean,
  );
  if (taken.length > 0) {
    throw new Error(`ports already in use: ${taken.join(", ")}; pick others with --base-port`);
  }
}
