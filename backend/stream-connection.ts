import type WebSocket from "ws";
import {
  encodeFrame,
  type Frame,
  FrameError,
  type InvokeFrame,
  readFrame,
} from "../src/transport/frame.ts";
import { BATCH_TARGET_BYTES, Outbox } from "../src/transport/outbox.ts";
import { CLOSE_CODES, ERROR_CODES, HEADER_BYTES, MAX_ID } from "../src/transport/protocol.ts";
import { type FunctionModule, invokeRequest, normaliseResult } from "./functions.ts";

// ws.OPEN, without importing ws at run time (see stream-server.ts for why).
const OPEN = 1;

/** What a test can make the node's stream side do wrong. */
export interface StreamFaults {
  /** Delay before each ack (the function starts after its ack), in ms. */
  ackDelayMs?: number;
  /** Delay between a function finishing and its result or error being sent, in ms. */
  resultDelayMs?: number;
  /** Do not answer pings (everything else still flows). */
  ignorePings?: boolean;
  /** Send nothing at all: no pongs, acks, results or errors; functions still run. */
  silent?: boolean;
  /** A one-off misbehaviour when the nth invocation (1-based, counted from setFaults) arrives. */
  onInvoke?: { nth: number; action: FaultAction };
}

/**
 * close-before-ack: close the stream (1011) instead of acking; the function never runs.
 * close-after-ack: ack, start the function, then close the stream (1011) before its result.
 * malformed: answer with a frame of a bad version instead of an ack; nothing runs.
 * text: answer with a text message instead of an ack; nothing runs.
 * unknown-id: send an ack for an id never used, then handle the invocation normally.
 * goaway: send goaway first; this and later invocations on the stream are rejected.
 */
export type FaultAction =
  | "close-before-ack"
  | "close-after-ack"
  | "malformed"
  | "text"
  | "unknown-id"
  | "goaway";

/** Totals kept across all of a server's connections. */
export interface StreamServerStats {
  /** Streams accepted. */
  connections: number;
  /** Streams currently open. */
  open: number;
  /** Invoke frames received. */
  invocations: number;
  /** Acks sent (or, when silent, due). */
  acked: number;
  /** Invocations received and not yet acked (e.g. during ackDelayMs). */
  awaitingAck: number;
  /** Highest `awaitingAck` seen: never above the gateway's window. */
  peakAwaitingAck: number;
  /** Invocations rejected because the stream was draining. */
  rejected: number;
  /** Result frames due. */
  results: number;
  /** Function failures reported. */
  errors: number;
  /** Functions currently running. */
  running: number;
  /** Highest `running` seen. */
  peakRunning: number;
  /** Pings received. */
  pings: number;
  /** Goaways sent. */
  goaways: number;
  /** Streams closed for a protocol error by the gateway. */
  protocolErrors: number;
}

/** What a connection shares with its server. */
export interface ConnectionContext {
  readonly handler: FunctionModule;
  readonly maxPayload: number;
  readonly stats: StreamServerStats;
  readonly executions: Map<number, number>;
  /** Current faults. */
  faults(): StreamFaults;
  /** Counts an arriving invocation and returns its ordinal since the last setFaults. */
  nextOrdinal(): number;
  log(message: string): void;
}

const FAULT_CLOSE_CODE = 1011;

/** The node's side of one stream: acks in arrival order, runs functions concurrently. */
export class NodeConnection {
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionContext;
  /** Accepted invocations whose result is not sent yet; ids must be unique among them. */
  readonly #inFlight = new Set<number>();
  /** Frames written in this task, sent as one message at its end. */
  readonly #outbox: Outbox;
  #flushScheduled = false;
  #draining = false;
  #closing = false;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;

  constructor(ws: WebSocket, ctx: ConnectionContext) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#outbox = new Outbox(Math.min(BATCH_TARGET_BYTES, HEADER_BYTES + ctx.maxPayload));
    this.closed = new Promise((resolve) => ws.once("close", () => resolve()));
    this.closed.then(() => {
      this.#closing = true;
    });
    ws.on("message", (data, isBinary) => this.#receive(data, isBinary));
    // ws reports its own protocol violations (e.g. an oversized message) here, then closes.
    ws.on("error", (error) => ctx.log(`stream error: ${error.message}`));
  }

  /** Stops taking invocations on this stream; accepted ones still finish. */
  goaway(reason: string): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#ctx.stats.goaways++;
    this.#send(encodeFrame({ kind: "goaway", id: 0, reason }));
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
    if (!isBinary) {
      this.#protocolError(CLOSE_CODES.unsupportedData, "text message on a binary stream");
      return;
    }
    const message = bytesOf(data);
    let offset = 0;
    try {
      do {
        const read = readFrame(message, offset, this.#ctx.maxPayload);
        offset = read.end;
        this.#dispatch(read.frame);
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
    const { stats } = this.#ctx;
    stats.invocations++;
    const ordinal = this.#ctx.nextOrdinal();
    const trigger = this.#ctx.faults().onInvoke;
    const action = trigger?.nth === ordinal ? trigger.action : null;
    switch (action) {
      case "close-before-ack":
        this.#close(FAULT_CLOSE_CODE, "fault: closed before ack");
        return;
      case "malformed": {
        const bytes = encodeFrame({ kind: "ack", id: frame.id });
        bytes[0] = 0xee;
        this.#send(bytes);
        return;
      }
      case "text":
        this.#flush();
        if (this.#ws.readyState === OPEN) this.#ws.send("not a frame");
        return;
      case "unknown-id":
        this.#send(encodeFrame({ kind: "ack", id: MAX_ID }));
        break;
      case "goaway":
        this.goaway("fault: draining");
        break;
    }
    if (this.#draining) {
      stats.rejected++;
      this.#send(
        encodeFrame({
          kind: "error",
          id: frame.id,
          code: ERROR_CODES.rejected,
          message: "node is draining",
        }),
      );
      return;
    }
    if (this.#inFlight.has(frame.id)) {
      this.#protocolError(CLOSE_CODES.protocolError, `id ${frame.id} is already in flight`);
      return;
    }
    this.#inFlight.add(frame.id);
    stats.awaitingAck++;
    stats.peakAwaitingAck = Math.max(stats.peakAwaitingAck, stats.awaitingAck);
    const ackDelayMs = this.#ctx.faults().ackDelayMs ?? 0;
    // Timers of equal delay fire in creation order, so starts keep arrival order.
    if (ackDelayMs > 0) setTimeout(() => this.#accept(frame, action), ackDelayMs);
    else this.#accept(frame, action);
  }

  /** Acks, then starts the function: the ack promises the gateway it may run. */
  #accept(frame: InvokeFrame, action: FaultAction | null): void {
    this.#ctx.stats.awaitingAck--;
    if (this.#closing) {
      this.#inFlight.delete(frame.id);
      return;
    }
    this.#ctx.stats.acked++;
    this.#send(encodeFrame({ kind: "ack", id: frame.id }));
    this.#run(frame);
    if (action === "close-after-ack") this.#close(FAULT_CLOSE_CODE, "fault: closed after ack");
  }

  #run(frame: InvokeFrame): void {
    const { id } = frame;
    const { stats, executions, handler } = this.#ctx;
    executions.set(id, (executions.get(id) ?? 0) + 1);
    stats.running++;
    stats.peakRunning = Math.max(stats.peakRunning, stats.running);
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(handler.invoke(invokeRequest(id, frame.body, frame.contentType)));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome
      .then((value) => {
        const { status, contentType, body } = normaliseResult(value);
        return encodeFrame({ kind: "result", id, status, contentType, body }, this.#ctx.maxPayload);
      })
      .then(
        (bytes) => {
          stats.results++;
          return bytes;
        },
        (error: unknown) => {
          stats.errors++;
          // Bounded so the error frame itself always fits.
          const message = (error instanceof Error ? error.message : String(error)).slice(0, 4096);
          return encodeFrame({ kind: "error", id, code: ERROR_CODES.functionFailed, message });
        },
      )
      .then((bytes) => {
        stats.running--;
        const delayMs = this.#ctx.faults().resultDelayMs ?? 0;
        const deliver = () => {
          this.#inFlight.delete(id);
          this.#send(bytes);
        };
        if (delayMs > 0) setTimeout(deliver, delayMs);
        else deliver();
      })
      .catch((error: unknown) =>
        this.#ctx.log(`invocation ${id} failed to answer: ${String(error)}`),
      );
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
}

function bytesOf(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
