// A fresh fleet per test, and the cluster calls the backend tests share.
import { createServer, type Server } from "node:net";
import { afterEach, beforeEach, expect } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import { callControl } from "./control-client.ts";

/** A cluster as the control server describes it. */
export interface ClusterJson {
  name: string;
  port: number;
  addressFormat: string;
  nodes: { id: string; url: string; host: string; port: number; dc: string; rack: string }[];
}

/** dc1 has racks r1 (2 nodes) and r2 (1 node); dc2 has rack r1 (2 nodes). */
export const TWO_DCS = [
  { dc: "dc1", rack: "r1", count: 2 },
  { dc: "dc1", rack: "r2", count: 1 },
  { dc: "dc2", rack: "r1", count: 2 },
];

/** The loopback addresses a first TWO_DCS cluster's nodes get, by datacenter. */
export const DC1 = ["127.1.1.1", "127.1.1.2", "127.1.1.3"];
export const DC2 = ["127.1.1.4", "127.1.1.5"];

/** Starts a fleet before each test of the calling file and closes it after. */
export function useFleet() {
  let current: Fleet | undefined;
  beforeEach(async () => {
    current = await startFleet();
  });
  afterEach(async () => {
    await current?.close();
  });
  const fleet = (): Fleet => {
    if (!current) throw new Error("no fleet outside a test");
    return current;
  };
  /** Calls this test's control server. */
  const control = (method: string, path: string, body?: unknown) =>
    callControl(fleet().url, method, path, body);
  /** Creates a TWO_DCS cluster (or the layout given). */
  const cluster = async (body: Record<string, unknown> = {}): Promise<ClusterJson> => {
    const { status, json } = await control("POST", "/clusters", { layout: TWO_DCS, ...body });
    expect(status, JSON.stringify(json)).toBe(201);
    return json as ClusterJson;
  };
  return { fleet, control, cluster };
}

/** Holds a free port on `host`, so a test can make that address busy. */
export async function occupy(host: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

/** The port a server listens on. */
export function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening");
  return address.port;
}
