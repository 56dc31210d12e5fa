import { DurableObject } from "cloudflare:workers";
import {
  type EjectionPolicy,
  eject,
  HEALTHY,
  type HealthState,
  isEjected,
  recordFailure,
  recordSuccess,
} from "../balancer/ejection.ts";
import { GateQueue } from "../balancer/gate-queue.ts";
import { NodeStream } from "../transport/node-stream.ts";
import { DEFAULT_STREAM_PATH } from "../transport/protocol.ts";
import { connectWorkersSocket } from "../transport/workers-socket.ts";
import { type InvokeOutcome, outcomeOfInvoke } from "./gate-invoke.ts";
import { recordRouteChange } from "./sync-record.ts";

/**
 * The request a gate sends, as plain data: the header pairs the proxy has already cleaned pass
 * straight through, with no Request object to build in the Worker and unpack in the gate.
 */
export interface GateRequest {
  readonly url: string;
  readonly method: string;
  /** Header lines as [name, value], repeats kept. */
  readonly headers: [string, string][];
  readonly body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/** What a dispatch tells the gate about one attempt. */
export interface ForwardOptions {
  /** Service the node belongs to (names its coordinator). */
  readonly service: string;
  /** Node the request is addressed to. */
  readonly nodeId: string;
  /** Handshakes this gate admits at once. */
  readonly gateLimit: number;
  /** Longest wait for a free slot. */
  readonly queueTimeoutMs: number;
  /** Longest wait for response headers once the request is sent. */
  readonly perTryTimeoutMs: number;
  readonly ejection: EjectionPolicy;
  /** Nodes the service has, for the coordinator's ejection cap. */
  readonly totalNodes: number;
  /** Send even if the node is ejected: its scope is in panic and routes across every node. */
  readonly ignoreEjection?: boolean;
  /** This gateway's id when peer route sync is on: a granted ejection is recorded for the peers. */
  readonly gatewayId?: string;
}

/** What health bookkeeping needs to know about an attempt. */
type HealthContext = Pick<
  ForwardOptions,
  "service" | "nodeId" | "ejection" | "totalNodes" | "gatewayId"
>;

/** What a dispatch tells the gate about one invocation. */
export interface InvokeOptions extends Omit<ForwardOptions, "perTryTimeoutMs"> {
  /** Base URL of the node; its stream is at the stream path below it. */
  readonly nodeUrl: string;
  /** Time left for the whole invocation, result included. */
  readonly deadlineMs: number;
  /** Sizes of the node's stream, applied when the stream is first opened. */
  readonly stream: { readonly queueCapacity: number; readonly window: number };
}

/** The invocation itself. */
export interface InvokePayload {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** One run of the stream benchmark. */
export interface StreamBenchRequest {
  readonly nodeUrl: string;
  readonly mode: "sync" | "async" | "in-order";
  readonly count: number;
  readonly queueCapacity: number;
}

/** What one run measured. */
export interface StreamBenchResult {
  readonly elapsedMs: number;
  readonly msgsPerSec: number;
}

/** Largest response body the gate reads and returns as bytes instead of a stream. */
const SMALL_BODY_BYTES = 64 * 1024;

/** A whole small response, sent back as plain data. */
export interface BufferedResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header lines in order, repeats kept (Set-Cookie). */
  readonly headers: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly body: ArrayBuffer;
}

/** How an attempt through the gate ended: a response comes streamed, or buffered when small. */
export type ForwardResult =
  | {
      readonly kind: "response";
      readonly response?: Response;
      readonly buffered?: BufferedResponse;
      readonly ejectedUntil?: number;
    }
  | {
      readonly kind: "network-error" | "timeout";
      readonly detail: string;
      readonly ejectedUntil?: number;
    }
  | {
      readonly kind: "not-sent";
      readonly reason: "ejected" | "queue-timeout";
      readonly ejectedUntil?: number;
    };

/** What the gate reports to tests and to the services API. */
export interface GateStats {
  readonly inFlight: number;
  readonly queued: number;
  readonly peakInFlight: number;
  readonly forwarded: number;
  readonly health: Readonly<Record<string, HealthState>>;
}

const HEALTH_PREFIX = "health:";

/**
 * One per backend node (or, with lock scope `global`, one per service, reproducing the old single
 * lock). It holds the node's lock only across the handshake: a slot is taken before the request
 * goes out and given back when response headers arrive, while the body streams on unlocked. Being
 * the one object every dispatch to the node passes through, it is also where the node's failure
 * streak and ejection live.
 */
export class NodeGate extends DurableObject<Env> {
  private readonly queue = new GateQueue(1);
  private readonly health = new Map<string, HealthState>();
  // One persistent multiplexed stream per node URL, opened on first use and kept across requests.
  private readonly streams = new Map<string, NodeStream>();
  private forwarded = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    for (const [key, state] of ctx.storage.kv.list<HealthState>({ prefix: HEALTH_PREFIX })) {
      this.health.set(key.slice(HEALTH_PREFIX.length), state);
    }
  }

  /** Sends `request` to the node under the gate's lock and reports how it went. */
  async forward(request: GateRequest, options: ForwardOptions): Promise<ForwardResult> {
    const before = this.health.get(options.nodeId) ?? HEALTHY;
    if (!options.ignoreEjection && isEjected(before, Date.now())) {
      return { kind: "not-sent", reason: "ejected", ejectedUntil: before.ejectedUntil };
    }
    this.queue.setLimit(options.gateLimit);
    if (!(await this.queue.acquire(options.queueTimeoutMs))) {
      return { kind: "not-sent", reason: "queue-timeout" };
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), options.perTryTimeoutMs);
    this.forwarded++;
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal: abort.signal,
      });
      const ejectedUntil =
        response.status >= 500 ? await this.failed(options) : this.succeeded(options);
      const length = Number(response.headers.get("content-length") ?? Number.NaN);
      if (length <= SMALL_BODY_BYTES && response.body) {
        // A small body of known length crosses back as bytes: piping a stream across the RPC
        // boundary costs more CPU than the copy. Larger or unknown-length bodies stream.
        const body = await response.arrayBuffer();
        const headers = [...response.headers].map(([name, value]) => ({ name, value }));
        const buffered = {
          status: response.status,
          statusText: response.statusText,
          headers,
          body,
        };
        return { kind: "response", buffered, ejectedUntil };
      }
      return { kind: "response", response, ejectedUntil };
    } catch (error) {
      const ejectedUntil = await this.failed(options);
      if (abort.signal.aborted) {
        return {
          kind: "timeout",
          detail: `no response headers within ${options.perTryTimeoutMs} ms`,
          ejectedUntil,
        };
      }
      return { kind: "network-error", detail: (error as Error).message, ejectedUntil };
    } finally {
      clearTimeout(timer);
      this.queue.release();
    }
  }

  /**
   * Sends an invocation over the node's stream. The gate's slot is held until the node acks (the
   * handshake) and released before the result arrives, so many invocations run on the node at
   * once while admission stays bounded.
   */
  async invoke(payload: InvokePayload, options: InvokeOptions): Promise<InvokeOutcome> {
    const before = this.health.get(options.nodeId) ?? HEALTHY;
    if (!options.ignoreEjection && isEjected(before, Date.now())) {
      return { kind: "not-sent", reason: "ejected", ejectedUntil: before.ejectedUntil };
    }
    this.queue.setLimit(options.gateLimit);
    if (!(await this.queue.acquire(Math.min(options.queueTimeoutMs, options.deadlineMs)))) {
      return { kind: "not-sent", reason: "queue-timeout" };
    }
    let held = true;
    let acked = false;
    const release = () => {
      if (held) this.queue.release();
      held = false;
    };
    this.forwarded++;
    let outcome: InvokeOutcome;
    try {
      const result = await this.streamTo(options).invoke(payload, {
        deadlineMs: options.deadlineMs,
        onAck: () => {
          acked = true;
          release();
        },
      });
      outcome = outcomeOfInvoke(result, true);
    } catch (error) {
      outcome = outcomeOfInvoke(error, acked);
    } finally {
      release();
    }
    // A node that cannot be reached counts toward ejection; a function that failed does not.
    if (outcome.kind === "not-acked") {
      const ejectedUntil = await this.failed(options);
      return ejectedUntil ? { ...outcome, ejectedUntil } : outcome;
    }
    if (outcome.kind === "result" || outcome.kind === "function-error") this.succeeded(options);
    return outcome;
  }

  /**
   * Measures stream throughput from inside this object: `count` small invocations on a fresh
   * stream of the given queue size, sent one at a time (`sync`), all at once (`async`), or all at
   * once with results consumed in send order (`in-order`). For the stream benchmark only.
   */
  async benchStream(request: StreamBenchRequest): Promise<StreamBenchResult> {
    const url = request.nodeUrl.replace(/\/$/, "") + DEFAULT_STREAM_PATH;
    const stream = new NodeStream({
      connect: (signal) => connectWorkersSocket(url, { signal }),
      queueCapacity: request.queueCapacity,
      window: request.queueCapacity,
    });
    const body = new Uint8Array(16);
    const send = () =>
      stream.invoke({ body, contentType: "application/octet-stream" }, { deadlineMs: 60_000 });
    try {
      await send(); // connect and warm up outside the measured window
      const started = Date.now();
      if (request.mode === "sync") {
        for (let i = 0; i < request.count; i++) await send();
      } else {
        const calls = Array.from({ length: request.count }, send);
        if (request.mode === "async") await Promise.all(calls);
        else for (const call of calls) await call;
      }
      const elapsedMs = Math.max(1, Date.now() - started);
      return { elapsedMs, msgsPerSec: (request.count * 1000) / elapsedMs };
    } finally {
      stream.close("benchmark done");
    }
  }

  /** Counters of the node's stream, if it has one. */
  streamStats(nodeUrl: string) {
    return this.streams.get(nodeUrl)?.stats() ?? null;
  }

  private streamTo(options: InvokeOptions): NodeStream {
    let stream = this.streams.get(options.nodeUrl);
    if (!stream) {
      const url = options.nodeUrl.replace(/\/$/, "") + DEFAULT_STREAM_PATH;
      stream = new NodeStream({
        connect: (signal) => connectWorkersSocket(url, { signal }),
        queueCapacity: options.stream.queueCapacity,
        window: options.stream.window,
        log: (entry) => console.warn(`stream ${options.nodeId}: ${JSON.stringify(entry)}`),
      });
      this.streams.set(options.nodeUrl, stream);
    }
    return stream;
  }

  /** Lifts a node's ejection and failure streak at once. */
  readmit(nodeId: string): void {
    this.store(nodeId, HEALTHY);
  }

  stats(): GateStats {
    return {
      inFlight: this.queue.inFlight,
      queued: this.queue.queued,
      peakInFlight: this.queue.peak,
      forwarded: this.forwarded,
      health: Object.fromEntries(this.health),
    };
  }

  private succeeded(options: HealthContext): undefined {
    const state = this.health.get(options.nodeId) ?? HEALTHY;
    const next = recordSuccess(state, Date.now(), options.ejection);
    if (next !== state) this.store(options.nodeId, next);
    return undefined;
  }

  /** Counts a failure; returns the ejection's end when this failure got the node ejected. */
  private async failed(options: HealthContext): Promise<number | undefined> {
    const state = this.health.get(options.nodeId) ?? HEALTHY;
    const { state: next, wantsEjection } = recordFailure(state, options.ejection);
    if (!wantsEjection) {
      this.store(options.nodeId, next);
      return undefined;
    }
    const ejected = eject(next, Date.now(), options.ejection);
    const granted = await this.askToEject(options, ejected.ejectedUntil);
    // Refused: the service cannot spare the node; keep the streak so the next failure asks again.
    this.store(options.nodeId, granted ? ejected : next);
    if (granted) {
      await recordRouteChange(this.env, options.gatewayId, options.service, options.nodeId, {
        kind: "eject",
        until: ejected.ejectedUntil,
      });
    }
    return granted ? ejected.ejectedUntil : undefined;
  }

  /** The coordinator's consent; without an answer the node stays in, as the safer mistake. */
  private async askToEject(options: HealthContext, until: number): Promise<boolean> {
    try {
      const coordinator = this.env.ROTATION.get(this.env.ROTATION.idFromName(options.service));
      return await coordinator.requestEjection({
        nodeId: options.nodeId,
        until,
        totalNodes: options.totalNodes,
        maxEjectedShare: options.ejection.maxEjectedShare,
      });
    } catch (error) {
      console.warn(`ejection of ${options.nodeId} not decided: ${String(error)}`);
      return false;
    }
  }

  private store(nodeId: string, state: HealthState): void {
    this.health.set(nodeId, state);
    this.ctx.storage.kv.put(HEALTH_PREFIX + nodeId, state);
  }
}
