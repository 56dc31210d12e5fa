import type { Call } from "./call.ts";
import { describe, failClosedCalls } from "./closed-calls.ts";
import { ConnectAttempt } from "./connect-attempt.ts";
import { FunctionError, NotAckedError } from "./errors.ts";
import {
  type AckFrame,
  type ErrorFrame,
  encodeFrame,
  type Frame,
  FrameError,
  frameAt,
  frameEnd,
  type ResultFrame,
  writeInvoke,
} from "./frame.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type Metrics, recordAckLatency } from "./metrics.ts";
import { BATCH_TARGET_BYTES, Outbox } from "./outbox.ts";
import { CLOSE_CODES, ERROR_CODES, HEADER_BYTES } from "./protocol.ts";
import type { Connect, StreamSocket } from "./socket.ts";
import { safeClose } from "./socket-close.ts";
import { canMove, isLive, type LinkState } from "./stream-state.ts";

/** Why a link closed. */
export interface CloseCause {
  /** WebSocket close code: sent by us, or received from the node. */
  code: number;
  /** Human-readable reason, for logs and for the errors of failed invocations. */
  reason: string;
  /** Whether the gateway side ended it (and so closes the socket itself). */
  local: boolean;
  /** Whether the socket never opened. */
  connectFailed: boolean;
}

/** Timing and size limits a link works with. */
export interface LinkSettings {
  /** Largest payload accepted from the node. */
  maxPayload: number;
  /** Ms between pings. */
  pingIntervalMs: number;
  /** Ms without any frame from the node after which the stream is dead. */
  heartbeatTimeoutMs: number;
  /** Ms a connect attempt may take. */
  connectTimeoutMs: number;
}

/** What a link reports to the NodeStream that owns it. */
export interface LinkHost {
  readonly metrics: Metrics;
  readonly settings: LinkSettings;
  log(level: "info" | "warn", message: string, link: Link): void;
  /** The link can take invocations. */
  linkOpened(link: Link): void;
  /** An un-acked slot of the window was freed. */
  windowFreed(link: Link): void;
  /** The node sent goaway: new work must go elsewhere. */
  linkDraining(link: Link): void;
  /** The link is finished; its invocations have been failed already. */
  linkClosed(link: Link, cause: CloseCause): void;
}

/** A close of the gateway's own making (local), or the node's. */
function closeCause(
  code: number,
  reason: string,
  options: { local?: boolean; connectFailed?: boolean } = {},
): CloseCause {
  return {
    code,
    reason,
    local: options.local ?? true,
    connectFailed: options.connectFailed ?? false,
  };
}

/**
 * One socket generation of a node stream: its sender, receiver and heartbeat are bound to
 * this object, so frames of an old generation can never touch a newer one. Every state
 * change goes through #moveTo, which is the only writer of #state.
 */
export class Link {
  /** Generation number, 1 for the stream's first socket. */
  readonly generation: number;
  readonly #host: LinkHost;
  #state: LinkState = "connecting";
  #socket: StreamSocket | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #calls = new Map<number, Call>();
  #unacked = 0;
  #abandoned = 0;
  readonly #outbox: Outbox;
  readonly #pulse = new Heartbeat();
  readonly #connect = new ConnectAttempt();

  constructor(host: LinkHost, generation: number) {
    this.#host = host;
    this.generation = generation;
    this.#outbox = new Outbox(
      Math.min(BATCH_TARGET_BYTES, HEADER_BYTES + host.settings.maxPayload),
    );
  }

  /** Current lifecycle state. */
  get state(): LinkState {
    return this.#state;
  }

  /** Invocations written and not yet acked or rejected: what the window bounds. */
  get unacked(): number {
    return this.#unacked;
  }

  /** Invocations written whose result is still owed, including ones whose caller gave up. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /** Starts the connect attempt; the link opens or closes when it ends. */
  connect(connect: Connect): void {
    this.#connect.start(connect, this.#host.settings.connectTimeoutMs, {
      opened: (socket) => {
        if (this.#state !== "connecting") {
          safeClose(socket, CLOSE_CODES.normal, "connect abandoned");
          return;
        }
        this.#socket = socket;
        this.#moveTo("open");
      },
      failed: (error) =>
        this.#moveTo(
          "closed",
          closeCause(CLOSE_CODES.normal, `connect failed: ${describe(error)}`, {
            connectFailed: true,
          }),
        ),
      // The attempt was given up (timeout, or the stream closed): do not leak the socket.
      late: (socket) => safeClose(socket, CLOSE_CODES.normal, "connect abandoned"),
    });
  }

  /**
   * Queues an invocation for the next flush; the NodeStream calls this only while open. `now`
   * is performance.now(), read once by the sender for all it writes in one go.
   */
  send(call: Call, now: number): void {
    const bytes = call.bytes;
    if (this.#state !== "open" || bytes === null) {
      call.reject(new NotAckedError(`internal: link ${this.#state} was handed an invocation`));
      return;
    }
    call.bytes = null;
    this.#track(call, now);
    this.#enqueue(bytes);
  }

  /**
   * Writes a new invocation straight into the next message, sparing it a buffer of its own:
   * for a call that needs no queueing, while the link is open. `size` is its invokeSize.
   */
  sendNow(
    call: Call,
    contentType: string,
    body: Uint8Array,
    size: number,
    now: number,
    name: string | undefined,
  ): void {
    if (this.#state !== "open") {
      call.reject(new NotAckedError(`internal: link ${this.#state} was handed an invocation`));
      return;
    }
    this.#track(call, now);
    const outbox = this.#outbox;
    if (outbox.overflows(size)) this.flush();
    const at = outbox.reserve(size); // first: it may move the bytes
    writeInvoke(outbox.bytes, at, call.id, contentType, body, name);
  }

  #track(call: Call, now: number): void {
    call.phase = "sent";
    call.sentAt = now;
    call.carrier = this;
    this.#calls.set(call.id, call);
    this.#unacked++;
    this.#host.metrics.sent++;
  }

  /** Writes everything queued as one message. */
  flush(): void {
    const message = this.#outbox.take();
    if (message !== null) this.#write(message);
  }

  /** The caller of a written invocation gave up; its late frames are still expected. */
  abandon(): void {
    this.#abandoned++;
    this.#closeIfDrained();
  }

  /** Closes the link from the gateway side. */
  close(code: number, reason: string): void {
    this.#moveTo("closed", closeCause(code, reason));
  }

  /** The single place where the state changes, with the side effects of entering a state. */
  #moveTo(to: LinkState, cause?: CloseCause): void {
    const from = this.#state;
    if (!canMove(from, to)) return;
    this.#state = to;
    switch (to) {
      case "open":
        this.#enterOpen();
        return;
      case "draining":
        this.#host.linkDraining(this);
        this.#closeIfDrained();
        return;
      case "closed":
        this.#enterClosed(cause ?? closeCause(CLOSE_CODES.normal, "closed"));
        return;
      case "connecting":
        return;
    }
  }

  #enterOpen(): void {
    const socket = this.#socket as StreamSocket;
    this.#unsubscribe = socket.listen({
      message: (data) => this.#receive(data),
      close: (code, reason) => {
        this.#moveTo(
          "closed",
          closeCause(code, reason || `closed by the node (${code})`, { local: false }),
        );
      },
      error: () => {
        this.#moveTo("closed", closeCause(CLOSE_CODES.normal, "socket error"));
      },
    });
    this.#pulse.start(this.#host.settings.pingIntervalMs, (ms) => this.#beat(ms));
    this.#host.linkOpened(this);
  }

  #enterClosed(cause: CloseCause): void {
    this.#pulse.stop();
    this.#connect.cancel(cause.reason);
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#outbox.clear();
    const socket = this.#socket;
    this.#socket = null;
    if (socket && cause.local) safeClose(socket, cause.code, cause.reason);
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    this.#unacked = 0;
    this.#abandoned = 0;
    failClosedCalls(calls, cause.reason, this.#host.metrics);
    this.#host.linkClosed(this, cause);
  }

  /**
   * Receiver: runs inside the socket's event handler, so it must never throw. A message holds
   * one or more frames; processing stops as soon as one of them ends the link.
   */
  #receive(data: Uint8Array | string): void {
    if (!isLive(this.#state)) return;
    this.#pulse.heard();
    if (typeof data === "string") {
      this.#protocolError(CLOSE_CODES.unsupportedData, "text message on a binary stream");
      return;
    }
    const { maxPayload } = this.#host.settings;
    if (data.byteLength > HEADER_BYTES + maxPayload) {
      this.#protocolError(CLOSE_CODES.tooLarge, `message of ${data.byteLength} bytes is too large`);
      return;
    }
    // One clock reading for the whole message: its frames arrived together.
    const now = performance.now();
    let offset = 0;
    do {
      let frame: Frame;
      try {
        frame = frameAt(data, offset, maxPayload);
      } catch (error) {
        if (error instanceof FrameError) {
          const code =
            error.code === "oversized" ? CLOSE_CODES.tooLarge : CLOSE_CODES.protocolError;
          this.#protocolError(code, `malformed frame (${error.code}): ${error.message}`);
        } else {
          this.#fail(`decoder failed: ${describe(error)}`);
        }
        return;
      }
      offset = frameEnd(data, offset);
      try {
        this.#dispatch(frame, now);
      } catch (error) {
        this.#fail(`receiver failed: ${describe(error)}`);
        return;
      }
    } while (offset < data.byteLength && isLive(this.#state));
  }

  #dispatch(frame: Frame, now: number): void {
    const { metrics } = this.#host;
    switch (frame.kind) {
      case "ack":
      case "result":
      case "error": {
        const call = this.#calls.get(frame.id);
        if (call) this.#settle(call, frame, now);
        else {
          metrics.unknownIds++;
          this.#host.log("info", `ignored ${frame.kind} for unknown id ${frame.id}`, this);
        }
        return;
      }
      case "ping":
        this.#enqueue(encodeFrame({ kind: "pong", id: frame.id, timestamp: frame.timestamp }));
        this.flush();
        return;
      case "pong":
        metrics.pongs++;
        metrics.rttMs = Math.max(0, Date.now() - frame.timestamp);
        return;
      case "goaway":
        metrics.goaways++;
        if (this.#state === "open") {
          this.#host.log("info", `node sent goaway: ${frame.reason || "(no reason)"}`, this);
          this.#moveTo("draining");
        }
        return;
      case "invoke":
        this.#protocolError(CLOSE_CODES.protocolError, "the node sent an invoke frame");
        return;
    }
  }

  /**
   * Applies an ack, result or error to its invocation. The node must ack before it answers,
   * and may reject only instead of acking; anything else is a protocol error.
   */
  #settle(call: Call, frame: AckFrame | ResultFrame | ErrorFrame, now: number): void {
    const { metrics } = this.#host;
    const rejection = frame.kind === "error" && frame.code === ERROR_CODES.rejected;
    const needsAck = frame.kind !== "ack" && !rejection;
    if (call.acked !== needsAck) {
      const what = rejection ? "rejection" : frame.kind;
      const order = call.acked ? "after an ack" : "before an ack";
      this.#protocolError(CLOSE_CODES.protocolError, `${what} ${order} for id ${frame.id}`);
      return;
    }
    if (frame.kind === "ack") {
      this.#unacked--;
      metrics.acked++;
      recordAckLatency(metrics, now - call.sentAt);
      call.markAcked(frame.retryable === true);
      this.#host.windowFreed(this);
      return;
    }
    this.#take(call);
    let delivered: boolean;
    if (frame.kind === "result") {
      metrics.results++;
      const { status, contentType, body } = frame;
      delivered = call.resolve({ status, contentType, body });
    } else if (rejection) {
      this.#unacked--;
      metrics.rejected++;
      delivered = call.reject(new NotAckedError(`rejected: ${frame.message}`, true));
    } else {
      metrics.errors++;
      delivered = call.reject(new FunctionError(frame.message));
    }
    if (!delivered) metrics.late++;
    if (rejection) this.#host.windowFreed(this);
    this.#closeIfDrained();
  }

  #take(call: Call): void {
    this.#calls.delete(call.id);
    if (call.settled) this.#abandoned--;
  }

  /** Heartbeat tick: the stream is dead after heartbeatTimeoutMs without any frame. */
  #beat(intervalMs: number): void {
    if (!isLive(this.#state)) return;
    const { metrics, settings } = this.#host;
    const beat = this.#pulse.tick(intervalMs, settings.heartbeatTimeoutMs);
    if ("silentMs" in beat) {
      metrics.heartbeatTimeouts++;
      this.#host.log("warn", `no frame from the node for ${beat.silentMs} ms`, this);
      this.#moveTo("closed", closeCause(CLOSE_CODES.heartbeatTimeout, "heartbeat timeout"));
      return;
    }
    this.#enqueue(encodeFrame({ kind: "ping", id: beat.pingId, timestamp: Date.now() }));
    this.flush();
    metrics.pingsSent++;
  }

  #closeIfDrained(): void {
    if (this.#state === "draining" && this.#calls.size === this.#abandoned) {
      this.#moveTo("closed", closeCause(CLOSE_CODES.normal, "drained"));
    }
  }

  #enqueue(frame: Uint8Array<ArrayBuffer>): void {
    if (!isLive(this.#state)) return;
    if (this.#outbox.overflows(frame.byteLength)) this.flush();
    this.#outbox.push(frame);
  }

  /** Writes one message if the socket is live; a throwing send ends the link. */
  #write(message: Uint8Array<ArrayBuffer>): void {
    const socket = this.#socket;
    if (socket === null || !isLive(this.#state)) return;
    try {
      socket.send(message);
    } catch (error) {
      this.#fail(`send failed: ${describe(error)}`);
    }
  }

  #protocolError(code: number, reason: string): void {
    this.#host.metrics.protocolErrors++;
    this.#host.log("warn", `closing stream: ${reason}`, this);
    this.#moveTo("closed", closeCause(code, reason));
  }

  #fail(reason: string): void {
    this.#host.log("warn", `closing stream: ${reason}`, this);
    this.#moveTo("closed", closeCause(CLOSE_CODES.internalError, reason));
  }
}
