// A byte-level client of the node's stream, for checks the gateway's own client would refuse to
// perform (violations) or that must see message boundaries and flags.
import WebSocket from "ws";
import type { Frame } from "../../src/transport/frame.ts";
import { DEFAULT_MAX_PAYLOAD, HEADER_BYTES, SUBPROTOCOL } from "../../src/transport/protocol.ts";
import { decodeMessage, describe } from "./frames.ts";
import { handshakeViolations } from "./ledger.ts";

/** How a stream ended. */
export interface CloseInfo {
  /** The close code the node sent (1005 if none, 1006 if the connection just dropped). */
  code: number;
  /** The node's close reason. */
  reason: string;
}

/** The outcome of an upgrade attempt. */
export type UpgradeOutcome =
  | { opened: true; protocol: string; socket: WebSocket }
  | { opened: false; status?: number; error: string };

/** Attempts an upgrade offering `protocols`; never throws. */
export function upgrade(
  url: string,
  protocols: string[],
  timeoutMs = 3_000,
): Promise<UpgradeOutcome> {
  return new Promise((resolve) => {
    // Larger than any message a conforming node sends, so the node's own limits are what is judged.
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 64 << 20 });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ opened: false, error: `no upgrade answer within ${timeoutMs} ms` });
    }, timeoutMs);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve({ opened: true, protocol: ws.protocol, socket: ws });
    });
    ws.once("unexpected-response", (_request, response) => {
      clearTimeout(timer);
      resolve({ opened: false, status: response.statusCode, error: `HTTP ${response.statusCode}` });
      ws.terminate();
    });
    ws.on("error", (error) => {
      clearTimeout(timer);
      resolve({ opened: false, error: error.message });
    });
  });
}

/** One stream to the node: every message received is kept, decoded, in order. */
export class RawStream {
  readonly #ws: WebSocket;
  /** Frames of each binary message, in arrival order. */
  readonly messages: Frame[][] = [];
  /** All frames received, flattened. */
  readonly frames: Frame[] = [];
  /** Ids the suite sent invokes for, for the handshake judgement. */
  readonly invoked = new Set<number>();
  /** Why a message from the node did not decode, if one did not. */
  malformed: string | undefined;
  /** Text messages from the node (never allowed). */
  texts = 0;
  /** Bytes of the largest binary message received. */
  largest = 0;
  /** Resolves when the stream has closed. */
  readonly closed: Promise<CloseInfo>;
  #closeInfo: CloseInfo | undefined;
  readonly #wakers = new Set<() => void>();

  /** Wraps an open socket; use {@link RawStream.open}. */
  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        this.texts++;
      } else {
        const bytes = Array.isArray(data)
          ? Buffer.concat(data)
          : data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : data;
        this.largest = Math.max(this.largest, bytes.byteLength);
        const decoded = decodeMessage(bytes);
        this.messages.push(decoded.frames);
        this.frames.push(...decoded.frames);
        if (decoded.error !== undefined) this.malformed ??= decoded.error;
      }
      this.#wake();
    });
    ws.on("error", () => {});
    this.closed = new Promise((resolve) => {
      ws.once("close", (code, reason) => {
        this.#closeInfo = { code, reason: reason.toString() };
        resolve(this.#closeInfo);
        this.#wake();
      });
    });
  }

  /** Opens a stream offering roundhouse.v1 and checks the node selected it. */
  static async open(url: string): Promise<RawStream> {
    const outcome = await upgrade(url, [SUBPROTOCOL]);
    if (!outcome.opened) throw new Error(`stream upgrade failed: ${outcome.error}`);
    if (outcome.protocol !== SUBPROTOCOL) {
      outcome.socket.terminate();
      throw new Error(`node selected subprotocol "${outcome.protocol}"`);
    }
    return new RawStream(outcome.socket);
  }

  /** The close, once it happened. */
  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }

  /** Sends one binary message; invoke ids in it are remembered. */
  send(message: Uint8Array, invokedIds: number[] = []): void {
    for (const id of invokedIds) this.invoked.add(id);
    this.#ws.send(message, { binary: true });
  }

  /** Sends a text message (a protocol violation). */
  sendText(message: string): void {
    this.#ws.send(message, { binary: false });
  }

  /** The first frame received matching `match`, waiting up to `timeoutMs` for it. */
  async waitFor(match: (frame: Frame) => boolean, what: string, timeoutMs = 3_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.#closeInfo) {
        throw new Error(`${what}: the stream closed first (${formatClose(this.#closeInfo)})`);
      }
      if (this.malformed !== undefined) {
        throw new Error(`${what}: the node sent a malformed frame (${this.malformed})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not received within ${timeoutMs} ms${this.#seen()}`);
      await this.#nextEvent(left);
    }
  }

  /** The close, waiting up to `timeoutMs`; throws if the stream stays open. */
  async waitClose(what: string, timeoutMs = 3_000): Promise<CloseInfo> {
    const timer = new Promise<undefined>((resolve) => setTimeout(resolve, timeoutMs, undefined));
    const info = await Promise.race([this.closed, timer]);
    if (info === undefined)
      throw new Error(`${what}: the stream was still open after ${timeoutMs} ms`);
    return info;
  }

  /** Waits `ms`, then throws if a frame matching `match` arrived by then. */
  async expectNone(match: (frame: Frame) => boolean, what: string, ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const found = this.frames.find(match);
    if (found) throw new Error(`${what}: got ${describe(found)}`);
  }

  /** Throws on any handshake violation, malformed frame or text message seen so far. */
  assertClean(): void {
    if (this.malformed !== undefined)
      throw new Error(`node sent a malformed frame: ${this.malformed}`);
    if (this.texts > 0) throw new Error(`node sent ${this.texts} text message(s)`);
    if (this.largest > HEADER_BYTES + DEFAULT_MAX_PAYLOAD) {
      throw new Error(`node sent a message of ${this.largest} bytes, over 16 + maxPayload`);
    }
    const invoke = this.frames.find((frame) => frame.kind === "invoke");
    if (invoke) throw new Error(`node sent an invoke (id ${invoke.id}); only the gateway may`);
    const problems = handshakeViolations(this.frames, this.invoked);
    if (problems.length > 0) throw new Error(problems.slice(0, 3).join("; "));
  }

  /** Drops the TCP connection without a close handshake, as a vanished gateway would. */
  terminate(): void {
    this.#ws.terminate();
  }

  /** Closes with `code`. */
  close(code = 1000, reason = ""): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(code, reason);
    else if (this.#ws.readyState === WebSocket.CONNECTING) this.#ws.terminate();
  }

  #nextEvent(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#wakers.add(wake);
    });
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  #seen(): string {
    if (this.frames.length === 0) return " (nothing received)";
    return ` (received: ${this.frames.slice(-6).map(describe).join(", ")})`;
  }
}

/** A close in a short human form. */
export function formatClose(info: CloseInfo): string {
  return info.reason ? `${info.code} ${JSON.stringify(info.reason)}` : `${info.code}`;
}
