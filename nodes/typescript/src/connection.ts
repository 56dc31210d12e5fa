import type WebSocket from "ws";
import type { Fifo } from "../../../src/transport/fifo.ts";
import type { InvokeFrame } from "../../../src/transport/frame.ts";
import {
  encodeFrame,
  type Frame,
  FrameError,
  frameAt,
  frameEnd,
} from "../../../src/transport/frame.ts";
import { BATCH_TARGET_BYTES, Outbox } from "../../../src/transport/outbox.ts";
import { CLOSE_CODES, ERROR_CODES, HEADER_BYTES, MAX_ID } from "../../../src/transport/protocol.ts";
import type { FaultAction, NodeHooks, StreamFaults } from "./hooks.ts";
import { DONE, Invocation, type Registered, RUNNING, WAITING } from "./invocation.ts";
import { invocationErrorResult, normaliseResult, problem } from "./result.ts";
import type { NodeStats } from "./types.ts";

// ws.OPEN, without importing ws at run time (see node.ts for why).
const OPEN = 1;
const FAULT_CLOSE_CODE = 1011;
/** Longest error message sent, so that the error frame itself always fits. */
const MAX_MESSAGE = 4096;

/** What a connection shares with its node. */
export interface NodeContext {
  readonly functions: ReadonlyMap<string, Registered>;
  readonly fallback: Registered | undefined;
  readonly maxPayload: number;
  readonly concurrency: number;
  readonly pingIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly stats: NodeStats;
  /** Invocations waiting, across streams in arrival order, for a slot under `concurrency`. */
  readonly waiting: Fifo<Invocation>;
  readonly hooks: NodeHooks | undefined;
  /** Current faults; NO_FAULTS without hooks. */
  faults(): StreamFaults;
  /** Starts waiting invocations while slots are free. */
  pump(): void;
  log(message: string): void;
}

/**
 * The node's side of one stream: acks in arrival order as slots free up, runs functions
 * concurrently, and coalesces what it sends in a task into one message.
 */
export class NodeConnection {
  readonly #ws: WebSocket;
  readonly #ctx: NodeContext;
  /** Invocations received and not answered yet; ids must be unique among them. */
  readonly #inFlight = new Map<number, Invocation>();
  /** Frames written in this task, sent as one message at its end. */
  readonly #outbox: Outbox;
  #flushScheduled = false;
  #draining = false;
  #closing = false;
  /** Resolves drain()'s wait once nothing is in flight. */
  #idle: (() => void) | null = null;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Whether a frame arrived since the last heartbeat tick. */
  #heard = true;
  #silentMs = 0;
  #pingSequence = 0;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;

  constructor(ws: WebSocket, ctx: NodeContext) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#outbox = new Outbox(Math.min(BATCH_TARGET_BYTES, HEADER_BYTES + ctx.maxPayload));
    this.closed = new Promise((resolve) =>
      ws.once("close", () => {
        this.#onClosed();
        resolve();
      }),
    );
    ws.on("message", (data, isBinary) => this.#receive(data, isBinary));
    // ws reports its own protocol violations (e.g. an oversized message) here, then closes.
    ws.on("error", (error) => ctx.log(`stream error: ${error.message}`));
    if (ctx.pingIntervalMs > 0) {
      this.#heartbeat = setInterval(() => this.#beat(), ctx.pingIntervalMs);
      this.#heartbeat.unref();
    }
  }

  /** Stops taking invocations on this stream; accepted ones still finish. */
  goaway(reason: string): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#ctx.stats.goaways++;
    this.#send(encodeFrame({ kind: "goaway", id: 0, reason }));
  }

  /**
   * Sends goaway, waits up to `graceMs` for what is in flight, then closes: 1000 when drained,
   * 1001 when the grace ran out first.
   */
  async drain(graceMs: number, reason = "node draining"): Promise<void> {
    this.goaway(reason);
    if (this.#inFlight.size > 0 && !this.#closing) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
      this.#idle = null;
    }
    const drained = this.#inFlight.size === 0;
    await this.shutdown(
      drained ? CLOSE_CODES.normal : CLOSE_CODES.goingAway,
      drained ? "drained" : "drain grace ran out",
    );
  }

  /** Closes the stream, forcibly if the gateway does not complete the close in time. */
  async shutdown(code: number, reason: string, graceMs = 500): Promise<void> {
    this.#close(code, reason);
    const timer = setTimeout(() => this.#ws.terminate(), graceMs);
    await this.closed;
    clearTimeout(timer);
  }

  /** A message holds one or more frames; a bad one closes the stream and ends the message. */
  #receive(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#closing) return;
    this.#heard = true;
    if (!isBinary) {
      this.#protocolError(CLOSE_CODES.unsupportedData, "text message on a binary stream");
      return;
    }
    const message = bytesOf(data);
    const { maxPayload } = this.#ctx;
    if (message.byteLength > HEADER_BYTES + maxPayload) {
      const size = message.byteLength;
      this.#protocolError(CLOSE_CODES.tooLarge, `message of ${size} bytes exceeds the limit`);
      return;
    }
    let offset = 0;
    try {
      do {
        const frame = frameAt(message, offset, maxPayload);
        offset = frameEnd(message, offset);
        this.#dispatch(frame);
      } while (offset < message.byteLength && !this.#closing);
    } catch (error) {
      if (error instanceof FrameError) {
        const code = error.code === "oversized" ? CLOSE_CODES.tooLarge : CLOSE_CODES.protocolError;
        this.#protocolError(code, `malformed frame (${error.code}): ${error.message}`);
      } else {
        this.#ctx.log(`stream handler failed: ${String(error)}`);
        this.#close(CLOSE_CODES.internalError, "internal error");
      }
    }
  }

  #dispatch(frame: Frame): void {
    switch (frame.kind) {
      case "invoke":
        this.#invoke(frame);
        return;
      case "ping":
        this.#ctx.stats.pings++;
        if (!this.#ctx.faults().ignorePings) {
          this.#send(encodeFrame({ kind: "pong", id: frame.id, timestamp: frame.timestamp }));
        }
        return;
      case "pong":
        return;
      default:
        this.#protocolError(CLOSE_CODES.protocolError, `the gateway sent a ${frame.kind} frame`);
    }
  }

  #invoke(frame: InvokeFrame): void {
    const ctx = this.#ctx;
    const { stats } = ctx;
    const { id } = frame;
    stats.invocations++;
    const action = ctx.hooks === undefined ? null : this.#injected(ctx.hooks, frame);
    if (action === "stop") return;
    if (this.#draining) {
      this.#reject(id);
      return;
    }
    if (this.#inFlight.has(id)) {
      this.#protocolError(CLOSE_CODES.protocolError, `id ${id} is already in flight`);
      return;
    }
    const name = frame.function;
    const spec = name === undefined ? ctx.fallback : ctx.functions.get(name);
    const invocation = new Invocation(this, id, name, frame.contentType, frame.body, spec);
    invocation.fault = action;
    this.#inFlight.set(id, invocation);
    stats.awaitingAck++;
    if (stats.awaitingAck > stats.peakAwaitingAck) stats.peakAwaitingAck = stats.awaitingAck;
    const ackDelayMs = ctx.faults().ackDelayMs ?? 0;
    // Timers of equal delay fire in creation order, so starts keep arrival order.
    if (ackDelayMs > 0) setTimeout(() => this.#admit(invocation), ackDelayMs);
    else this.#admit(invocation);
  }

  /** Applies an injected fault; "stop" when the invocation is not to be handled at all. */
  #injected(hooks: NodeHooks, frame: InvokeFrame): FaultAction | "stop" | null {
    const ordinal = hooks.nextOrdinal();
    const trigger = hooks.faults().onInvoke;
    const action = trigger?.nth === ordinal ? trigger.action : null;
    switch (action) {
      case "close-before-ack":
        this.#close(FAULT_CLOSE_CODE, "fault: closed before ack");
        return "stop";
      case "malformed": {
        const bytes = encodeFrame({ kind: "ack", id: frame.id });
        bytes[0] = 0xee;
        this.#send(bytes);
        return "stop";
      }
      case "text":
        this.#flush();
        if (this.#ws.readyState === OPEN) this.#ws.send("not a frame");
        return "stop";
      case "unknown-id":
        this.#send(encodeFrame({ kind: "ack", id: MAX_ID }));
        return action;
      case "goaway":
        this.goaway("fault: draining");
        return action;
      default:
        return action;
    }
  }

  /** Starts the invocation now if a slot is free and nothing waits before it; else queues it. */
  #admit(invocation: Invocation): void {
    const ctx = this.#ctx;
    if (ctx.waiting.length === 0 && ctx.stats.running < ctx.concurrency) this.accept(invocation);
    else ctx.waiting.push(invocation);
  }

  /**
   * Acks, then starts the function: the ack promises the gateway it may run. An invocation still
   * unacked when the stream drains is rejected instead, so the gateway sends it elsewhere.
   */
  accept(invocation: Invocation): void {
    const { stats } = this.#ctx;
    stats.awaitingAck--;
    if (this.#closing || invocation.state !== WAITING) return;
    const { id, spec } = invocation;
    if (this.#draining) {
      invocation.state = DONE;
      this.#release(id);
      this.#reject(id);
      return;
    }
    stats.acked++;
    this.#send(
      encodeFrame(spec?.idempotent ? { kind: "ack", id, retryable: true } : { kind: "ack", id }),
    );
    if (spec === undefined) {
      const detail =
        invocation.function === undefined
          ? "no default function"
          : `no function named ${JSON.stringify(invocation.function)}`;
      this.#answer(invocation, 404, "unknown-function", "Unknown function", detail);
      return;
    }
    if (invocation.body.byteLength > spec.maxBodyBytes) {
      const detail = `body of ${invocation.body.byteLength} bytes exceeds ${spec.maxBodyBytes}`;
      this.#answer(invocation, 413, "payload-too-large", "Payload too large", detail);
      return;
    }
    this.#run(invocation, spec);
    if (invocation.fault === "close-after-ack") {
      this.#close(FAULT_CLOSE_CODE, "fault: closed after ack");
    }
  }

  #run(invocation: Invocation, spec: Registered): void {
    const ctx = this.#ctx;
    const { stats } = ctx;
    invocation.state = RUNNING;
    stats.running++;
    if (stats.running > stats.peakRunning) stats.peakRunning = stats.running;
    ctx.hooks?.started(invocation.id);
    if (spec.timeoutMs > 0) {
      invocation.timer = setTimeout(() => this.#timedOut(invocation), spec.timeoutMs);
    }
    let value: unknown;
    try {
      value = spec.handler(invocation);
    } catch (error) {
      this.#failed(invocation, error);
      return;
    }
    // A function that answers synchronously is answered without a promise.
    if (isThenable(value)) {
      value.then(
        (resolved) => this.#succeeded(invocation, resolved),
        (error: unknown) => this.#failed(invocation, error),
      );
    } else {
      this.#succeeded(invocation, value);
    }
  }

  #succeeded(invocation: Invocation, value: unknown): void {
    if (invocation.state !== RUNNING) return;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      const { status, contentType, body } = normaliseResult(value);
      const { id } = invocation;
      bytes = encodeFrame({ kind: "result", id, status, contentType, body }, this.#ctx.maxPayload);
    } catch (error) {
      this.#failed(invocation, error);
      return;
    }
    this.#ctx.stats.results++;
    this.#finish(invocation, bytes);
  }

  #failed(invocation: Invocation, error: unknown): void {
    if (invocation.state !== RUNNING) return;
    const { id } = invocation;
    const chosen = invocationErrorResult(error);
    if (chosen !== undefined) {
      const { maxPayload } = this.#ctx;
      let bytes: Uint8Array<ArrayBuffer> | undefined;
      try {
        bytes = encodeFrame({ kind: "result", id, ...chosen }, maxPayload);
      } catch {
        // A detail too long for a frame: the failure is reported as an error frame instead.
      }
      if (bytes !== undefined) {
        this.#ctx.stats.results++;
        this.#finish(invocation, bytes);
        return;
      }
    }
    this.#ctx.stats.errors++;
    const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_MESSAGE);
    const code = ERROR_CODES.functionFailed;
    this.#finish(invocation, encodeFrame({ kind: "error", id, code, message }));
  }

  #timedOut(invocation: Invocation): void {
    if (invocation.state !== RUNNING) return;
    const { stats } = this.#ctx;
    stats.aborted++;
    const timeoutMs = invocation.spec?.timeoutMs ?? 0;
    invocation.abort(new Error(`function timed out after ${timeoutMs} ms`));
    stats.results++;
    const detail = `no answer within ${timeoutMs} ms`;
    const answer = problem(504, typeOf("function-timeout"), "Function timed out", detail);
    this.#finish(invocation, encodeFrame({ kind: "result", id: invocation.id, ...answer }));
  }

  /** Frees the invocation's slot and sends its answer (after resultDelayMs, when injected). */
  #finish(invocation: Invocation, bytes: Uint8Array<ArrayBuffer>): void {
    invocation.state = DONE;
    if (invocation.timer !== undefined) clearTimeout(invocation.timer);
    this.#ctx.stats.running--;
    const { id } = invocation;
    const delayMs = this.#ctx.faults().resultDelayMs ?? 0;
    if (delayMs > 0) {
      setTimeout(() => {
        this.#release(id);
        this.#send(bytes);
      }, delayMs);
    } else {
      this.#release(id);
      this.#send(bytes);
    }
    this.#ctx.pump();
  }

  /** Answers an acked invocation with the node's own problem, without running anything. */
  #answer(invocation: Invocation, status: number, type: string, title: string, detail: string) {
    invocation.state = DONE;
    this.#ctx.stats.results++;
    const answer = problem(status, typeOf(type), title, detail);
    this.#release(invocation.id);
    this.#send(encodeFrame({ kind: "result", id: invocation.id, ...answer }));
  }

  #reject(id: number): void {
    this.#ctx.stats.rejected++;
    const code = ERROR_CODES.rejected;
    this.#send(encodeFrame({ kind: "error", id, code, message: "node is draining" }));
  }

  #release(id: number): void {
    this.#inFlight.delete(id);
    if (this.#idle !== null && this.#inFlight.size === 0) this.#idle();
  }

  /** One heartbeat tick: closes a silent stream, else pings the gateway. */
  #beat(): void {
    if (this.#closing) return;
    if (this.#heard) {
      this.#heard = false;
      this.#silentMs = 0;
    } else {
      this.#silentMs += this.#ctx.pingIntervalMs;
    }
    const limit = this.#ctx.heartbeatTimeoutMs;
    if (limit > 0 && this.#silentMs >= limit) {
      this.#ctx.stats.heartbeatTimeouts++;
      this.#ctx.log(`closing stream: no frame for ${this.#silentMs} ms`);
      this.#close(CLOSE_CODES.heartbeatTimeout, "heartbeat timeout");
      return;
    }
    const id = ++this.#pingSequence;
    this.#send(encodeFrame({ kind: "ping", id, timestamp: Date.now() }));
  }

  /** Queues a frame; frames queued before the next event-loop turn leave in one message. */
  #send(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#closing || this.#ctx.faults().silent) return;
    if (this.#outbox.overflows(frame.byteLength)) this.#flush();
    this.#outbox.push(frame);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // setImmediate rather than a microtask: a fast function's result then shares the message
    // with its ack, halving the messages per invocation.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const message = this.#outbox.take();
    if (message === null || this.#ws.readyState !== OPEN) return;
    this.#ws.send(message);
  }

  #protocolError(code: number, reason: string): void {
    this.#ctx.stats.protocolErrors++;
    this.#ctx.log(`closing stream: ${reason}`);
    this.#close(code, reason.slice(0, 120));
  }

  /** Closes after whatever is queued, so frames sent before the close still arrive. */
  #close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#flush();
    this.#closing = true;
    this.#ws.close(code, reason);
  }

  /** The stream is gone: running functions are aborted, their answers and waiting ones dropped. */
  #onClosed(): void {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const { stats } = this.#ctx;
    for (const invocation of this.#inFlight.values()) {
      if (invocation.state === RUNNING) {
        if (invocation.timer !== undefined) clearTimeout(invocation.timer);
        stats.running--;
        stats.aborted++;
        invocation.abort(new Error("stream closed"));
      }
      // Waiting ones stay queued until their turn, where accept drops them.
      invocation.state = DONE;
    }
    this.#inFlight.clear();
    if (this.#idle !== null) this.#idle();
    this.#ctx.pump();
  }
}

/** The type URI of one of the node's own problems. */
function typeOf(name: string): string {
  return `urn:roundhouse:problem:${name}`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function bytesOf(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
