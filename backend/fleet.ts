import http from "node:http";
import type { Socket } from "node:net";
import { createControlHandler } from "./control.ts";
import { type BackendNode, type NodeOptions, startNode } from "./node-server.ts";
import { httpUrl, listen, shutdown, trackSockets } from "./server-lifecycle.ts";

/** Options for {@link startFleet}. */
export interface FleetOptions {
  /** Address for the control server and every node; default 127.0.0.1. */
  host?: string;
  /** Control server port; 0 (default) picks a free one. */
  port?: number;
}

/** Options for a fleet node: a node's options without the host, which the fleet sets. */
export interface FleetNodeOptions extends Omit<NodeOptions, "host" | "id"> {
  /** Node id; default node-<n> with the smallest free n. */
  id?: string;
}

/** A set of backend nodes plus the HTTP control server that drives them. */
export interface Fleet {
  /** Control server base URL. */
  readonly url: string;
  /** Control server port. */
  readonly port: number;
  /** Address everything binds. */
  readonly host: string;
  /** Running nodes by id. */
  readonly nodes: ReadonlyMap<string, BackendNode>;
  /** Starts a node; rejects with DuplicateNodeError for a taken id. */
  addNode(options?: FleetNodeOptions): Promise<BackendNode>;
  /** Closes and forgets a node; false when there was none. */
  removeNode(id: string): Promise<boolean>;
  /** Closes the control server and every node. */
  close(): Promise<void>;
}

/** Raised by addNode for an id already in the fleet. */
export class DuplicateNodeError extends Error {
  override name = "DuplicateNodeError";
}

/** Starts an empty fleet and its control server. */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const host = options.host ?? "127.0.0.1";
  const fleet = new NodeFleet(host);
  const server = http.createServer(createControlHandler(fleet));
  server.keepAliveTimeout = 5_000;
  const sockets = trackSockets(server);
  fleet.attach(server, sockets, await listen(server, host, options.port ?? 0));
  return fleet;
}

class NodeFleet implements Fleet {
  readonly host: string;
  readonly nodes = new Map<string, BackendNode>();
  /** Ids being started, held so two concurrent adds cannot both take one. */
  #reserved = new Set<string>();
  #server: http.Server | null = null;
  #sockets = new Set<Socket>();
  #port = 0;

  constructor(host: string) {
    this.host = host;
  }

  attach(server: http.Server, sockets: Set<Socket>, port: number): void {
    this.#server = server;
    this.#sockets = sockets;
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return httpUrl(this.host, this.#port);
  }

  async addNode(options: FleetNodeOptions = {}): Promise<BackendNode> {
    const id = options.id ?? this.#freeId();
    if (this.#taken(id)) throw new DuplicateNodeError(`node "${id}" already exists`);
    this.#reserved.add(id);
    try {
      const node = await startNode({ ...options, id, host: this.host });
      this.nodes.set(id, node);
      return node;
    } finally {
      this.#reserved.delete(id);
    }
  }

  async removeNode(id: string): Promise<boolean> {
    const node = this.nodes.get(id);
    if (!node) return false;
    this.nodes.delete(id);
    await node.close();
    return true;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    const nodes = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all([
      server ? shutdown(server, this.#sockets) : undefined,
      ...nodes.map((node) => node.close()),
    ]);
  }

  #taken(id: string): boolean {
    return this.nodes.has(id) || this.#reserved.has(id);
  }

  #freeId(): string {
    let n = 1;
    while (this.#taken(`node-${n}`)) n += 1;
    return `node-${n}`;
  }
}
