import type { Behaviour, BehaviourPatch } from "./behaviour.ts";
import type { FunctionModule } from "./functions.ts";
import type { ClusterMembership } from "./localnodes.ts";
import type { StreamFaults, StreamServerOptions, StreamServerStats } from "./stream-server.ts";

/** Options for {@link startNode}. */
export interface NodeOptions {
  /** Node id, echoed in every answer and in the x-node-id header. */
  id: string;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port to bind; 0 (default) picks a free one, which is then kept across stop/start. */
  port?: number;
  /** Data-centre label; also the default scope of /localnodes. */
  dc?: string;
  /** Rack label. */
  rack?: string;
  /** Cluster to answer GET /localnodes from; without one, /localnodes is an ordinary request. */
  cluster?: ClusterMembership;
  /** Initial behaviour, on top of the defaults. */
  behaviour?: BehaviourPatch;
  /** The default function's module; default echo, scriptable by body (see `scripted`). */
  functions?: FunctionModule;
  /** Named functions, and the node library's settings (pings, concurrency, drain grace). */
  stream?: Pick<
    StreamServerOptions,
    "functions" | "concurrency" | "pingIntervalMs" | "heartbeatTimeoutMs" | "graceMs"
  >;
  /**
   * Answer GET /health as a library node does (200 `ok`, 503 while draining) instead of by the
   * behaviour; for the conformance node.
   */
  libraryHealth?: boolean;
}

/** Request accounting since start or the last resetStats(); discovery requests are kept apart. */
export interface NodeStats {
  /** Requests received, discovery (GET /localnodes on a cluster node) excluded. */
  requests: number;
  /** Requests received per HTTP method. */
  byMethod: Record<string, number>;
  /** Requests received per x-request-id header value. */
  byRequestId: Record<string, number>;
  /** Requests whose response headers are not written yet (hung ones included) and still open. */
  inHandshake: number;
  /** Highest inHandshake seen. */
  peakHandshakes: number;
  /** Requests whose client closed the connection before the answer's headers (a hedge's loser). */
  abandoned: number;
  /** TCP connections open now, idle keep-alive ones and discovery requests included. */
  connections: number;
  /** Highest connections seen. */
  peakConnections: number;
  /** Discovery requests received. */
  localnodesRequests: number;
  /** Discovery requests received per raw query string ("" for none). */
  localnodesByQuery: Record<string, number>;
  /** Function invocations executed over the stream. */
  invocations: number;
  /** Executions per invocation body (cut at 200 characters), so tests can prove none ran twice. */
  invocationsByBody: Record<string, number>;
  /** The stream endpoint's own totals, or null while the node is down. */
  stream: StreamServerStats | null;
}

/** A running reference backend node. */
export interface BackendNode {
  /** Node id. */
  readonly id: string;
  /** Bound address. */
  readonly host: string;
  /** Bound port, the same across stop/start and refuse. */
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  /** Data-centre label, if any. */
  readonly dc: string | undefined;
  /** Rack label, if any. */
  readonly rack: string | undefined;
  /** Name of the cluster the node answers /localnodes for, if any. */
  readonly cluster: string | undefined;
  /** Whether the node listens now: not stopped, closed or refusing. */
  accepting(): boolean;
  /** A copy of the current behaviour. */
  behaviour(): Behaviour;
  /** Validates and applies a partial behaviour; resolves once the listener matches it. */
  setBehaviour(patch: BehaviourPatch): Promise<Behaviour>;
  /** A JSON-able snapshot of the accounting. */
  stats(): NodeStats;
  /** Zeroes the counters; requests still in handshake stay counted. */
  resetStats(): void;
  /** Simulates node death: stops listening and drops every connection. */
  stop(): Promise<void>;
  /** Brings a stopped node back on the same port. */
  start(): Promise<void>;
  /** Shuts the node down for good; never waits on open connections. */
  close(): Promise<void>;
  /** Drains the streams as a library node does on SIGTERM, then shuts the node down. */
  drain(): Promise<void>;
  /** Makes the function stream misbehave, for tests (see StreamFaults). */
  setStreamFaults(faults: StreamFaults): void;
}
