import { DurableObject } from "cloudflare:workers";
import type { HealthState } from "../../balancer/ejection.ts";
import { GateQueue } from "../../balancer/gate-queue.ts";
import { type HolderRecord, heldSlots, LeaseLedger } from "../../balancer/lease-ledger.ts";
import type { LeaseAnswer, LeaseReport } from "../../balancer/lease-slots.ts";
import type { EgressConfig } from "../../config/network-schema.ts";
import { logOf } from "../../logging/log-of.ts";
import { NodeStream } from "../../transport/node-stream.ts";
import { DEFAULT_STREAM_PATH } from "../../transport/protocol.ts";
import { connectWorkersSocket } from "../../transport/workers-socket.ts";
import type { ForwardResult } from "../../upstream/attempt-result.ts";
import { nodeFetcher } from "../../upstream/egress.ts";
import { fetchNode, isFailureStatus, type NodeRequest } from "../../upstream/node-fetch.ts";
import { GateHealth, type HealthContext } from "./health.ts";
import { type InvokeOutcome, outcomeOfInvoke } from "./invoke.ts";

/** What a dispatch tells the gate about one attempt. */
export interface ForwardOptions extends HealthContext {
  /** Handshakes this gate admits at once, leased slots included. */
  readonly gateLimit: number;
  /** Longest wait for a free slot. */
  readonly queueTimeoutMs: number;
  /** Longest wait for response headers once the request is sent. */
  readonly perTryTimeoutMs: number;
  /** Send even if the node is ejected: its scope is in panic and routes across every node. */
  readonly ignoreEjection?: boolean;
  /** How the gate reaches the node. */
  readonly egress: EgressConfig;
}

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
  /** The node's function, by name; absent for its default function. */
  readonly function?: string | undefined;
}

/** An isolate's lease call: its demand, its report, and the failure that made it call now. */
export interface LeaseRequest extends HealthContext {
  /** The calling isolate's id (one per isolate and service runtime). */
  readonly holder: string;
  /** Slots it asks for. */
  readonly want: number;
  readonly report: LeaseReport;
  /** The attempt that made this call failed (network error, timeout or a 5xx status). */
  readonly failure?: boolean;
  readonly gateLimit: number;
  readonly ttlMs: number;
}

/** What the gate reports to tests and to the services API. */
export interface GateStats {
  /** Handshakes in progress through the gate itself. */
  readonly inFlight: number;
  readonly queued: number;
  readonly peakInFlight: number;
  /** Attempts the gate sent itself. */
  readonly forwarded: number;
  /** Slots leased to isolates now, and to how many holders. */
  readonly leased: number;
  readonly leaseHolders: number;
  /** Lease calls answered, and attempts isolates reported making on leased slots. */
  readonly leaseCalls: number;
  readonly leasedSuccesses: number;
  readonly leasedFailures: number;
  readonly health: Readonly<Record<string, HealthState>>;
}

/** A body that fails at once: what is left of a small answer whose body the node broke off. */
function brokenBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start: (controller) => controller.error(new Error("node body failed")),
  });
}

/** Largest response body the gate reads and returns as bytes instead of a stream. */
const SMALL_BODY_BYTES = 64 * 1024;
const LEASE_PREFIX = "lease:";

/**
 * One per backend node (or, with lock scope `global`, one per service). It is the authority on
 * its node's handshake limit and health. A handshake slot is either taken here, for an attempt
 * the gate sends itself and holds only until response headers arrive, or leased to an isolate
 * that sends its attempts itself within its slots and reports them (docs/architecture.md,
 * "Capacity leases"). Leased slots and the gate's own never add up to more than the limit.
 */
export class NodeGate extends DurableObject<Env> {
  readonly #queue = new GateQueue(1);
  readonly #health: GateHealth;
  readonly #ledger: LeaseLedger;
  // One persistent multiplexed stream per node URL, opened on first use and kept across requests.
  readonly #streams = new Map<string, NodeStream>();
  #limit = 1;
  #ttlMs = 0;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #forwarded = 0;
  #leaseCalls = 0;
  #leasedSuccesses = 0;
  #leasedFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#health = new GateHealth(ctx.storage, env);
    // Grants outlive the object: a restarted gate counts what it leased before granting more.
    const records = [...ctx.storage.kv.list<HolderRecord>({ prefix: LEASE_PREFIX })];
    this.#ledger = new LeaseLedger(records.map(([k, r]) => [k.slice(LEASE_PREFIX.length), r]));
  }

  /** Sends `request` to the node on one of the gate's own slots and reports how it went. */
  async forward(request: NodeRequest, options: ForwardOptions): Promise<ForwardResult> {
    const ejectedUntil = this.#health.ejectedUntil(options.nodeId, Date.now());
    if (!options.ignoreEjection && ejectedUntil !== undefined) {
      return { kind: "not-sent", reason: "ejected", ejectedUntil };
    }
    if (!(await this.#admit(options.gateLimit, options.queueTimeoutMs))) {
      return { kind: "not-sent", reason: "queue-timeout" };
    }
    this.#forwarded++;
    try {
      const via = nodeFetcher(this.env, options.egress);
      const sent = await fetchNode(via, request, {
        timeoutMs: options.perTryTimeoutMs,
        uploadLimitMs: options.queueTimeoutMs,
      });
      if (sent.kind !== "response") {
        return { kind: sent.kind, detail: sent.detail, ejectedUntil: await this.#failed(options) };
      }
      const { response } = sent;
      const ejected = isFailureStatus(response.status)
        ? await this.#failed(options)
        : this.#succeeded(options);
      const length = Number(response.headers.get("content-length") ?? Number.NaN);
      if (length <= SMALL_BODY_BYTES && response.body) {
        // A small body of known length crosses back as bytes: piping a stream across the RPC
        // boundary costs more CPU than the copy. Larger or unknown-length bodies stream.
        // Bounded by the time left of the dispatch, not by the per-try timer, which ended at
        // the headers.
        const body = await sent.readWhole(options.queueTimeoutMs);
        const head = { status: response.status, statusText: response.statusText };
        const headers = [...response.headers];
        if (body !== undefined) {
          const buffered = { ...head, headers, body };
          return { kind: "response", delivery: "buffered", buffered, ejectedUntil: ejected };
        }
        // The headers arrived, so this is the node's answer, judged by its status; a body that
        // then fails reaches the client as a broken body, as on the streamed path.
        const broken = new Response(brokenBody(), { ...head, headers });
        return { kind: "response", delivery: "streamed", response: broken, ejectedUntil: ejected };
      }
      return { kind: "response", delivery: "streamed", response, ejectedUntil: ejected };
    } finally {
      this.#release();
    }
  }

  /**
   * Answers an isolate's lease call: applies its report (successes first, then the failure that
   * made it call, so its streak counts in the isolate's order) and grants it slots for one TTL.
   * An ejected node leases nothing, so its traffic meets the gate's refusal.
   */
  async lease(request: LeaseRequest): Promise<LeaseAnswer> {
    this.#leaseCalls++;
    this.#leasedSuccesses += request.report.successes;
    if (request.report.successes > 0) this.#health.succeeded(request);
    let ejectedUntil: number | undefined;
    if (request.failure) {
      this.#leasedFailures++;
      ejectedUntil = await this.#failed(request);
    }
    this.#ttlMs = request.ttlMs;
    this.#applyLimit(request.gateLimit); // persists what expired before the grant counts it
    const now = Date.now();
    ejectedUntil ??= this.#health.ejectedUntil(request.nodeId, now);
    const terms = { limit: request.gateLimit, ttlMs: request.ttlMs };
    const want = ejectedUntil === undefined ? request.want : 0;
    const { record, slots } = this.#ledger.grant(
      request.holder,
      want,
      this.#queue.inFlight,
      terms,
      now,
    );
    this.ctx.storage.kv.put(LEASE_PREFIX + request.holder, record);
    this.#applyLimit(request.gateLimit);
    this.#armExpiry();
    const answer = { slots, ttlMs: request.ttlMs, generation: record.generation };
    return ejectedUntil === undefined ? answer : { ...answer, ejectedUntil };
  }

  /**
   * Sends an invocation over the node's stream. The gate's slot is held until the node acks (the
   * handshake) and released before the result arrives, so many invocations run on the node at
   * once while admission stays bounded.
   */
  async invoke(payload: InvokePayload, options: InvokeOptions): Promise<InvokeOutcome> {
    const ejectedUntil = this.#health.ejectedUntil(options.nodeId, Date.now());
    if (!options.ignoreEjection && ejectedUntil !== undefined) {
      return { kind: "not-sent", reason: "ejected", ejectedUntil };
    }
    const wait = Math.min(options.queueTimeoutMs, options.deadlineMs);
    if (!(await this.#admit(options.gateLimit, wait))) {
      return { kind: "not-sent", reason: "queue-timeout" };
    }
    let held = true;
    let acked = false;
    const release = () => {
      if (held) this.#release();
      held = false;
    };
    this.#forwarded++;
    let outcome: InvokeOutcome;
    try {
      const result = await this.#streamTo(options).invoke(payload, {
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
    // A node that cannot be reached, or whose stream broke under an invocation that will be
    // retried elsewhere, counts toward ejection; a function that failed does not.
    if (outcome.kind === "not-acked" || (outcome.kind === "lost-after-ack" && outcome.retryable)) {
      const ejected = await this.#failed(options);
      return ejected ? { ...outcome, ejectedUntil: ejected } : outcome;
    }
    if (outcome.kind === "result" || outcome.kind === "function-error") this.#succeeded(options);
    return outcome;
  }

  /** Lifts a node's ejection and failure streak at once. */
  readmit(nodeId: string): void {
    this.#health.readmit(nodeId);
  }

  stats(): GateStats {
    const now = Date.now();
    let holders = 0;
    for (const [, record] of this.#ledger.entries()) if (heldSlots(record, now) > 0) holders++;
    return {
      inFlight: this.#queue.inFlight,
      queued: this.#queue.queued,
      peakInFlight: this.#queue.peak,
      forwarded: this.#forwarded,
      leased: this.#ledger.outstanding(now),
      leaseHolders: holders,
      leaseCalls: this.#leaseCalls,
      leasedSuccesses: this.#leasedSuccesses,
      leasedFailures: this.#leasedFailures,
      health: this.#health.snapshot(),
    };
  }

  /** Takes one of the gate's own slots, waiting in FIFO order for at most `waitMs`. */
  async #admit(limit: number, waitMs: number): Promise<boolean> {
    this.#applyLimit(limit);
    const admitted = this.#queue.acquire(waitMs);
    this.#armExpiry();
    return admitted;
  }

  #release(): void {
    this.#queue.release();
    this.#armExpiry();
  }

  /** The gate's own slots are what the leases leave of the limit. */
  #applyLimit(limit: number): void {
    this.#limit = limit;
    const now = Date.now();
    if (this.#ttlMs > 0) {
      for (const [holder, record] of this.#ledger.prune(now, this.#ttlMs)) {
        if (record) this.ctx.storage.kv.put(LEASE_PREFIX + holder, record);
        else this.ctx.storage.kv.delete(LEASE_PREFIX + holder);
      }
    }
    this.#queue.setLimit(Math.max(0, limit - this.#ledger.outstanding(now)));
  }

  /**
   * While dispatches wait, the gate's share grows when the next grant ends, so a timer re-applies
   * the limit then. Without waiters no timer runs: a pending one would keep the object in memory.
   */
  #armExpiry(): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const next = this.#queue.queued > 0 ? this.#ledger.nextExpiry(Date.now()) : undefined;
    if (next === undefined) return;
    this.#expiryTimer = setTimeout(
      () => {
        this.#expiryTimer = undefined;
        this.#applyLimit(this.#limit);
        this.#armExpiry();
      },
      next - Date.now() + 1,
    );
  }

  #streamTo(options: InvokeOptions): NodeStream {
    let stream = this.#streams.get(options.nodeUrl);
    if (!stream) {
      const url = options.nodeUrl.replace(/\/$/, "") + DEFAULT_STREAM_PATH;
      stream = new NodeStream({
        connect: (signal) =>
          connectWorkersSocket(url, { signal, fetch: nodeFetcher(this.env, options.egress) }),
        queueCapacity: options.stream.queueCapacity,
        window: options.stream.window,
        // The stream's warnings are faults; its info lines (a stream opened) are not logged.
        log: (entry) => {
          if (entry.level !== "warn") return;
          logOf(this.env).fault("warn", {
            event: "stream",
            node: options.nodeId,
            reason: entry.message,
            generation: entry.generation,
          });
        },
      });
      this.#streams.set(options.nodeUrl, stream);
    }
    return stream;
  }

  #succeeded(context: HealthContext): undefined {
    this.#health.succeeded(context);
    return undefined;
  }

  #failed(context: HealthContext): Promise<number | undefined> {
    return this.#health.failed(context);
  }
}
