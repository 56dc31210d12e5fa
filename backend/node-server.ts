import type { IncomingMessage, ServerResponse } from "node:http";
import http from "node:http";
import type { Socket } from "node:net";
import { refuseOversizedUpload, writeShaped } from "./answer-shape.ts";
import {
  type Behaviour,
  type BehaviourPatch,
  DEFAULT_BEHAVIOUR,
  isFlapDown,
  parseBehaviourPatch,
} from "./behaviour.ts";
import { type FunctionModule, scripted } from "./functions.ts";
import {
  type ClusterMembership,
  LOCALNODES_PATH,
  localNodesAnswer,
  localNodesScope,
} from "./localnodes.ts";
import {
  bump,
  countingExecutions,
  delayOverride,
  extraHeaders,
  requestInfo,
  splitTarget,
} from "./node-request.ts";
import type { BackendNode, NodeOptions, NodeStats } from "./node-types.ts";
import { httpUrl, listen, shutdown, trackSockets } from "./server-lifecycle.ts";
import { attachStreamServer, type StreamFaults, type StreamServer } from "./stream-server.ts";

/** Starts a node and resolves once it listens (or, in refuse mode, once its port is known). */
export function startNode(options: NodeOptions): Promise<BackendNode> {
  return NodeServer.launch(options);
}

/** What a request is answered with, decided when it arrives. */
type Verdict = "ok" | "fail" | "flap" | "hang";

/** Per-request override of the behaviour's delayMs. */
const DELAY_HEADER = "x-backend-delay-ms";
/** Request header with a JSON object of extra response headers, for header hygiene tests. */
const RESPONSE_HEADERS_HEADER = "x-backend-response-headers";
const KEEP_ALIVE_MS = 5_000;

class NodeServer implements BackendNode {
  readonly id: string;
  readonly host: string;
  readonly dc: string | undefined;
  readonly rack: string | undefined;
  #cluster: ClusterMembership | undefined;
  #port: number;
  #behaviour: Behaviour;
  #flapSince = Date.now();
  #server: http.Server | null = null;
  #sockets = new Set<Socket>();
  #stopped = false;
  #closed = false;
  /** Listener changes run one at a time, so quick mode flips cannot interleave. */
  #transitions: Promise<void> = Promise.resolve();
  #requests = 0;
  #byMethod = new Map<string, number>();
  #byRequestId = new Map<string, number>();
  #inHandshake = 0;
  #abandoned = 0;
  #peakHandshakes = 0;
  #peakConnections = 0;
  #localnodesRequests = 0;
  #localnodesByQuery = new Map<string, number>();
  #stream: StreamServer | null = null;
  #streamFaults: StreamFaults = {};
  #functions: FunctionModule;
  readonly #streamOptions: NodeOptions["stream"];
  readonly #libraryHealth: boolean;
  #invocations = 0;
  #invocationsByBody = new Map<string, number>();

  static async launch(options: NodeOptions): Promise<NodeServer> {
    const node = new NodeServer(options);
    // Bind once even when starting in refuse mode: it learns the port and surfaces EADDRINUSE.
    await node.#open();
    await node.#sync();
    return node;
  }

  private constructor(options: NodeOptions) {
    this.id = options.id;
    this.host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? 0;
    this.dc = options.dc;
    this.rack = options.rack;
    this.#cluster = options.cluster;
    this.#behaviour = { ...DEFAULT_BEHAVIOUR, ...parseBehaviourPatch(options.behaviour ?? {}) };
    this.#streamOptions = options.stream;
    this.#libraryHealth = options.libraryHealth ?? false;
    this.#functions = countingExecutions(options.functions ?? scripted, (body) => {
      this.#invocations++;
      const key = body.length <= 200 ? body : `${body.slice(0, 200)}…`;
      this.#invocationsByBody.set(key, (this.#invocationsByBody.get(key) ?? 0) + 1);
    });
  }

  /** Makes the stream endpoint misbehave (for tests); applies to streams opened from now on too. */
  setStreamFaults(faults: StreamFaults): void {
    this.#streamFaults = { ...faults };
    this.#stream?.setFaults(this.#streamFaults);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return httpUrl(this.host, this.#port);
  }

  get cluster(): string | undefined {
    return this.#cluster?.name;
  }

  accepting(): boolean {
    return this.#server !== null;
  }

  behaviour(): Behaviour {
    const flap = this.#behaviour.flap;
    return { ...this.#behaviour, flap: flap && { ...flap } };
  }

  async setBehaviour(patch: BehaviourPatch): Promise<Behaviour> {
    const valid = parseBehaviourPatch(patch);
    if (valid.flap !== undefined) this.#flapSince = Date.now();
    this.#behaviour = { ...this.#behaviour, ...valid };
    await this.#sync();
    return this.behaviour();
  }

  stats(): NodeStats {
    return {
      requests: this.#requests,
      byMethod: Object.fromEntries(this.#byMethod),
      byRequestId: Object.fromEntries(this.#byRequestId),
      inHandshake: this.#inHandshake,
      peakHandshakes: this.#peakHandshakes,
      abandoned: this.#abandoned,
      connections: this.#sockets.size,
      peakConnections: this.#peakConnections,
      localnodesRequests: this.#localnodesRequests,
      localnodesByQuery: Object.fromEntries(this.#localnodesByQuery),
      invocations: this.#invocations,
      invocationsByBody: Object.fromEntries(this.#invocationsByBody),
      stream: this.#stream?.stats() ?? null,
    };
  }

  resetStats(): void {
    this.#requests = 0;
    this.#byMethod.clear();
    this.#byRequestId.clear();
    this.#peakHandshakes = this.#inHandshake;
    this.#peakConnections = this.#sockets.size;
    this.#abandoned = 0;
    this.#localnodesRequests = 0;
    this.#localnodesByQuery.clear();
    this.#invocations = 0;
    this.#invocationsByBody.clear();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.#sync();
  }

  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`node ${this.id} is closed`));
    this.#stopped = false;
    return this.#sync();
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.#sync();
  }

  async drain(): Promise<void> {
    await this.#stream?.drain();
    await this.close();
  }

  #sync(): Promise<void> {
    const next = this.#transitions.then(() => this.#reconcile());
    this.#transitions = next.catch(() => {});
    return next;
  }

  async #reconcile(): Promise<void> {
    const wanted = !this.#closed && !this.#stopped && this.#behaviour.mode !== "refuse";
    if (wanted && !this.#server) await this.#open();
    if (!wanted && this.#server) await this.#shut();
  }

  async #open(): Promise<void> {
    // A fresh server per listen leaves no state behind from the previous life.
    const server = http.createServer((req, res) => this.#onRequest(req, res));
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    const sockets = trackSockets(server);
    // Counted after trackSockets has added the socket: what a client holds open, whatever it sends.
    server.on("connection", () => {
      this.#peakConnections = Math.max(this.#peakConnections, sockets.size);
    });
    // Function invocations arrive as a WebSocket stream on the same port (docs/protocol.md).
    const stream = attachStreamServer(server, {
      ...this.#streamOptions,
      handler: this.#functions,
      faults: this.#streamFaults,
    });
    this.#port = await listen(server, this.host, this.#port);
    this.#server = server;
    this.#sockets = sockets;
    this.#stream = stream;
  }

  async #shut(): Promise<void> {
    const server = this.#server;
    const stream = this.#stream;
    this.#server = null;
    this.#stream = null;
    await stream?.close();
    if (server) await shutdown(server, this.#sockets);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const behaviour = this.#behaviour;
    if (behaviour.mode === "refuse") {
      // Only reachable in the moment before the listener closes: act as if it already had.
      req.socket.destroy();
      return;
    }
    if (this.#libraryHealth && this.#stream?.answerHealth(req, res)) return;
    const target = splitTarget(req.url);
    if (this.#cluster && req.method === "GET" && target.path === LOCALNODES_PATH) {
      this.#discover(this.#cluster, target.query, behaviour, res);
      return;
    }
    const sequence = this.#count(req);
    const verdict = this.#verdict(behaviour, sequence);
    const endHandshake = this.#beginHandshake(res);
    if (refuseOversizedUpload(req, res)) return;
    let bodyBytes = 0;
    req.on("data", (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    // A client that goes away mid-body closes the response, which ends the handshake.
    req.on("error", () => {});
    req.on("end", () => {
      if (verdict === "hang" || res.headersSent) return;
      const delayMs = this.#delayFor(req, behaviour, sequence);
      const timer = setTimeout(() => {
        endHandshake();
        this.#answer(req, res, verdict, behaviour, delayMs, bodyBytes);
      }, delayMs);
      res.once("close", () => clearTimeout(timer));
    });
  }

  #discover(
    cluster: ClusterMembership,
    query: string,
    behaviour: Behaviour,
    res: ServerResponse,
  ): void {
    this.#localnodesRequests += 1;
    bump(this.#localnodesByQuery, query);
    const answer = localNodesAnswer(
      behaviour.discovery,
      cluster.liveEntries(localNodesScope(query, this.dc)),
    );
    if (!answer) return;
    res.writeHead(answer.status, { "content-type": "application/json", "x-node-id": this.id });
    res.end(answer.body);
  }

  #count(req: IncomingMessage): number {
    this.#requests += 1;
    bump(this.#byMethod, req.method ?? "");
    const requestId = req.headers["x-request-id"];
    if (typeof requestId === "string") bump(this.#byRequestId, requestId);
    return this.#requests;
  }

  #verdict(behaviour: Behaviour, sequence: number): Verdict {
    if (behaviour.mode === "hang") return "hang";
    if (behaviour.mode === "fail") return "fail";
    if (behaviour.failEvery > 0 && sequence % behaviour.failEvery === 0) return "fail";
    if (behaviour.flap && isFlapDown(behaviour.flap, this.#flapSince, Date.now())) return "flap";
    return "ok";
  }

  /** Counts the request as in handshake; the returned function (idempotent) ends that. */
  #beginHandshake(res: ServerResponse): () => void {
    this.#inHandshake += 1;
    this.#peakHandshakes = Math.max(this.#peakHandshakes, this.#inHandshake);
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      this.#inHandshake -= 1;
    };
    res.once("close", () => {
      if (open) this.#abandoned += 1;
      end();
    });
    return end;
  }

  #delayFor(req: IncomingMessage, behaviour: Behaviour, sequence: number): number {
    const base = delayOverride(req.headers[DELAY_HEADER]) ?? behaviour.delayMs;
    const slow = behaviour.slowEvery > 0 && sequence % behaviour.slowEvery === 0;
    return base + (slow ? behaviour.slowMs : 0);
  }

  #answer(
    req: IncomingMessage,
    res: ServerResponse,
    verdict: Verdict,
    behaviour: Behaviour,
    delayMs: number,
    bodyBytes: number,
  ): void {
    let status = 200;
    let body: unknown;
    if (verdict === "fail") {
      status = behaviour.failStatus;
      body = { error: "node is failing", node: this.id };
    } else if (verdict === "flap") {
      status = 503;
      body = { error: "node is flapping", node: this.id };
    } else {
      // An ok answer echoes the request (GET /localnodes on a cluster node never gets here).
      body = requestInfo(this.id, req, bodyBytes);
    }
    const headers = {
      ...extraHeaders(req.headers[RESPONSE_HEADERS_HEADER]),
      "content-type": "application/json",
      "x-node-id": this.id,
      [DELAY_HEADER]: String(delayMs),
    };
    writeShaped(req, res, status, headers, JSON.stringify(body));
  }
}
