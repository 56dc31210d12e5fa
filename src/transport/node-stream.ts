import { type BackoffOptions, reconnectDelay } from "./backoff.ts";
import { Call, type ExpiryCause, type InvokeResult } from "./call.ts";
import { Deadlines } from "./deadlines.ts";
import { AbortedError, BusyError, DeadlineError, NotAckedError } from "./errors.ts";
import { Fifo } from "./fifo.ts";
import { invokeSize, writeInvoke } from "./frame.ts";
import { type CloseCause, Link, type LinkHost, type LinkSettings } from "./link.ts";
import { newMetrics } from "./metrics.ts";
import type {
  InvokeOptions,
  InvokePayload,
  NodeStreamOptions,
  StreamLogEntry,
  StreamStats,
} from "./node-stream-types.ts";
import { CLOSE_CODES, DEFAULT_MAX_PAYLOAD } from "./protocol.ts";
import type { Connect } from "./socket.ts";
import type { LinkState } from "./stream-state.ts";

export type { InvokeResult } from "./call.ts";

const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Pipelines invocations to one node over one persistent stream. Callers enqueue; a single
 * sender drains the queue in call order while the window allows; each socket generation's
 * receiver settles invocations by id. Lost sockets are replaced with backoff.
 */
export class NodeStream {
  readonly #connect: Connect;
  readonly #capacity: number;
  readonly #window: number;
  readonly #backoff: BackoffOptions;
  readonly #log: (entry: StreamLogEntry) => void;
  readonly #metrics = newMetrics();
  readonly #deadlines = new Deadlines<Call>((call) => this.#expire(call, "deadline"));
  readonly #queue = new Fifo<Call>();
  #queued = 0;
  readonly #waiters = new Fifo<Call>();
  #waiting = 0;
  #current: Link | null = null;
  readonly #retired = new Set<Link>();
  #generation = 0;
  #attempt = 0;
  #everOpened = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Why the last connect attempt failed, until a socket opens again. */
  #unreachable: string | null = null;
  #nextId = 1;
  #pumping = false;
  #pumpScheduled = false;
  readonly #settings: LinkSettings;
  readonly #host: LinkHost;

  constructor(options: NodeStreamOptions) {
    this.#connect = options.connect;
    this.#capacity = integer("queueCapacity", options.queueCapacity ?? 1024, 1, 65_536);
    this.#window = integer("window", options.window ?? 256, 1, 65_536);
    const pingIntervalMs = integer("pingIntervalMs", options.pingIntervalMs ?? 5_000, 1);
    this.#settings = {
      maxPayload: integer("maxPayload", options.maxPayload ?? DEFAULT_MAX_PAYLOAD, 64, 2 ** 32 - 1),
      pingIntervalMs,
      heartbeatTimeoutMs: integer(
        "heartbeatTimeoutMs",
        options.heartbeatTimeoutMs ?? 15_000,
        pingIntervalMs,
      ),
      connectTimeoutMs: integer("connectTimeoutMs", options.connectTimeoutMs ?? 5_000, 1),
    };
    this.#backoff = options.backoff ?? {};
    this.#log = options.log ?? noLog;
    this.#host = {
      metrics: this.#metrics,
      settings: this.#settings,
      log: (level, message, link) => this.#log({ level, message, generation: link.generation }),
      linkOpened: (link) => this.#linkOpened(link),
      windowFreed: (link) => {
        if (link === this.#current) this.#schedulePump();
      },
      linkDraining: (link) => this.#linkDraining(link),
      linkClosed: (link, cause) => this.#linkClosed(link, cause),
    };
    this.#openLink();
  }

  /** State of the socket that takes new invocations; "closed" only after close(). */
  get state(): LinkState {
    if (this.#closed) return "closed";
    return this.#current?.state ?? "connecting";
  }

  /**
   * Runs the node's function on `payload`. Never throws: it rejects with an InvokeError
   * subclass (see errors.ts), a FrameError for a payload the protocol cannot carry, or a
   * RangeError for a bad deadline. While the last connect attempt has failed it rejects at
   * once with NotAckedError, so callers move on to another node.
   */
  invoke(payload: InvokePayload, options: InvokeOptions): Promise<InvokeResult> {
    if (this.#closed) return Promise.reject(new NotAckedError("stream closed"));
    if (this.#unreachable !== null) {
      // Queueing for a node that refuses connections only delays the caller's retry elsewhere.
      this.#metrics.notAcked++;
      return Promise.reject(new NotAckedError(`node unreachable: ${this.#unreachable}`));
    }
    const { deadlineMs, signal, onAck } = options;
    if (!(deadlineMs > 0 && deadlineMs <= LONGEST_TIMER_MS)) {
      return Promise.reject(new RangeError(`deadlineMs must be in (0, ${LONGEST_TIMER_MS}]`));
    }
    if (signal?.aborted) {
      this.#metrics.aborted++;
      return Promise.reject(new AbortedError("waiting", signal.reason));
    }
    const id = this.#nextId++;
    const contentType = payload.contentType ?? "";
    const { body, function: name } = payload;
    let size: number;
    try {
      size = invokeSize(contentType, body, this.#settings.maxPayload, name);
    } catch (error) {
      return Promise.reject(error);
    }
    const now = performance.now();
    const settlers = Promise.withResolvers<InvokeResult>();
    const link = this.#current;
    // With nothing queued or waiting, a call the window allows goes straight into the next
    // message, in call order: no frame of its own to allocate, queue, and copy again.
    if (
      this.#waiting === 0 &&
      this.#queued === 0 &&
      link !== null &&
      link.state === "open" &&
      link.unacked < this.#window
    ) {
      const call = new Call(id, null, now + deadlineMs, settlers, onAck);
      this.#deadlines.add(call);
      if (signal) call.listen(signal, this.#expire);
      link.sendNow(call, contentType, body, size, now, name);
      this.#schedulePump(); // which flushes the message at the end of the task
      return settlers.promise;
    }
    // The caller may reuse its body once invoke returns, so a call that waits carries a copy.
    const bytes = new Uint8Array(size);
    writeInvoke(bytes, 0, id, contentType, body, name);
    const call = new Call(id, bytes, now + deadlineMs, settlers, onAck);
    this.#deadlines.add(call);
    if (signal) call.listen(signal, this.#expire);
    // Joining the queue only when nobody waits keeps admission, and so sending, in call order.
    if (this.#waiting === 0 && this.#queued < this.#capacity) {
      this.#enqueue(call);
      this.#schedulePump();
    } else {
      this.#waiters.push(call);
      this.#waiting++;
    }
    return settlers.promise;
  }

  /** Counters and gauges, as a fresh object. */
  stats(): StreamStats {
    let inFlight = 0;
    let unacked = 0;
    for (const link of this.#links()) {
      inFlight += link.inFlight;
      unacked += link.unacked;
    }
    return {
      ...this.#metrics,
      state: this.state,
      generation: this.#generation,
      queueDepth: this.#queued,
      waiting: this.#waiting,
      inFlight,
      unacked,
      draining: this.#retired.size,
    };
  }

  /**
   * Closes for good: unsent invocations fail with NotAckedError, written ones with
   * NotAckedError or LostAfterAckError depending on whether the node acked them.
   */
  close(reason = "stream closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#failUnsent(reason);
    for (const link of this.#links()) link.close(CLOSE_CODES.normal, reason);
    // Every call is settled by now: there is nothing left to expire.
    this.#deadlines.clear();
  }

  /**
   * Runs the sender once the current task's invocations and acks are all in, so that what
   * became sendable together leaves in one message.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#scheduledPump);
  }

  readonly #scheduledPump = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  /** Sender: writes queued invocations in order while the current link is open and has window. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    const link = this.#current;
    const now = performance.now();
    try {
      for (;;) {
        this.#admitWaiters();
        if (link === null || link.state !== "open" || link.unacked >= this.#window) return;
        const call = this.#dequeue();
        if (call === undefined) return;
        link.send(call, now);
      }
    } finally {
      this.#pumping = false;
      link?.flush();
    }
  }

  #enqueue(call: Call): void {
    call.phase = "queued";
    this.#queue.push(call);
    this.#queued++;
  }

  /** Oldest live queued call; calls that expired while queued are skipped (already counted). */
  #dequeue(): Call | undefined {
    for (let call = this.#queue.shift(); call !== undefined; call = this.#queue.shift()) {
      if (!call.settled) {
        this.#queued--;
        return call;
      }
    }
    return undefined;
  }

  #admitWaiters(): void {
    while (this.#waiting > 0 && this.#queued < this.#capacity) {
      const call = this.#waiters.shift();
      if (call === undefined) return;
      if (call.settled) continue;
      this.#waiting--;
      this.#enqueue(call);
    }
  }

  /** A call's deadline passed or its signal fired. */
  readonly #expire = (call: Call, cause: ExpiryCause): void => {
    if (call.settled) return;
    const { phase, carrier } = call;
    let error: Error;
    if (cause === "abort") {
      this.#metrics.aborted++;
      error = new AbortedError(phase, call.abortReason);
    } else if (phase === "waiting") {
      this.#metrics.busy++;
      error = new BusyError(this.#retryAfterMs());
    } else {
      this.#metrics.deadlines++;
      error = new DeadlineError(phase);
    }
    call.reject(error);
    if (phase === "waiting") {
      this.#waiting--;
    } else if (phase === "queued") {
      this.#queued--;
      this.#schedulePump();
    } else {
      carrier?.abandon();
    }
  };

  /** Time for the work ahead to clear the window at the recent ack latency, within 1 ms..5 s. */
  #retryAfterMs(): number {
    const latency = this.#metrics.ackLatencyMs || 10;
    const rounds = Math.ceil((this.#queued + this.#waiting + 1) / this.#window);
    return Math.min(5_000, Math.max(1, Math.ceil(latency * rounds)));
  }

  #openLink(): void {
    const link = new Link(this.#host, ++this.#generation);
    this.#current = link;
    link.connect(this.#connect);
  }

  #linkOpened(link: Link): void {
    if (link !== this.#current) return;
    this.#attempt = 0;
    this.#unreachable = null;
    if (this.#everOpened) this.#metrics.reconnects++;
    this.#everOpened = true;
    this.#log({ level: "info", message: "stream open", generation: link.generation });
    this.#schedulePump();
  }

  #linkDraining(link: Link): void {
    if (link !== this.#current) return;
    this.#retired.add(link);
    this.#current = null;
    // Goaway is orderly, so the replacement starts at once rather than after a backoff.
    if (!this.#closed) this.#openLink();
  }

  #linkClosed(link: Link, cause: CloseCause): void {
    this.#retired.delete(link);
    const orderly =
      cause.code === CLOSE_CODES.normal && (cause.local || cause.reason === "drained");
    this.#log({
      level: orderly && !cause.connectFailed ? "info" : "warn",
      message: `stream closed (${cause.code}): ${cause.reason}`,
      generation: link.generation,
    });
    if (link !== this.#current) return;
    this.#current = null;
    if (cause.connectFailed) {
      this.#metrics.connectFailures++;
      this.#unreachable = cause.reason;
      this.#failUnsent(cause.reason);
    }
    if (!this.#closed) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = reconnectDelay(this.#attempt++, this.#backoff);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closed && this.#current === null) this.#openLink();
    }, delay);
  }

  /** Fails every call not yet written: the node never saw them. */
  #failUnsent(reason: string): void {
    for (const fifo of [this.#waiters, this.#queue]) {
      for (let call = fifo.shift(); call !== undefined; call = fifo.shift()) {
        if (call.reject(new NotAckedError(reason))) this.#metrics.notAcked++;
      }
    }
    this.#waiting = 0;
    this.#queued = 0;
  }

  #links(): Link[] {
    return this.#current ? [this.#current, ...this.#retired] : [...this.#retired];
  }
}

function integer(name: string, value: number, min: number, max = LONGEST_TIMER_MS): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

/** No sink given: the stream's diagnostics go nowhere (the gateway's NodeGate gives its Log). */
function noLog(): void {}
