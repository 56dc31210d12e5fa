// A scripted node end and stream harness for the link tests (transport-link*.test.ts).
import { afterEach, beforeEach, vi } from "vitest";
import { encodeFrame, type Frame, readFrame } from "../../src/transport/frame.ts";
import { NodeStream } from "../../src/transport/node-stream.ts";
import type { NodeStreamOptions } from "../../src/transport/node-stream-types.ts";
import type { Connect, SocketListener, StreamSocket } from "../../src/transport/socket.ts";
import { bytes, logSink } from "./transport-harness.ts";

/**
 * A scripted node end. Unsubscribing does not stop delivery, like a runtime that had events
 * queued for a socket being replaced: the stream itself must ignore them.
 */
export class FakeSocket implements StreamSocket {
  readonly sent: Frame[] = [];
  /** Messages written, each holding one or more frames. */
  messages = 0;
  closedWith: { code: number; reason: string } | null = null;
  unsubscribed = false;
  #listener: SocketListener | null = null;

  send(data: Uint8Array): void {
    if (this.closedWith) throw new Error("send on a closed fake socket");
    this.messages++;
    for (let at = 0; at < data.byteLength; ) {
      const { frame, end } = readFrame(data, at);
      this.sent.push(frame);
      at = end;
    }
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  listen(listener: SocketListener): () => void {
    this.#listener = listener;
    return () => {
      this.unsubscribed = true;
    };
  }

  deliver(...frames: Frame[]): void {
    for (const frame of frames) this.raw(encodeFrame(frame));
  }

  /** Delivers several frames in one message. */
  deliverBatch(...frames: Frame[]): void {
    const parts = frames.map((frame) => encodeFrame(frame));
    const message = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      message.set(part, at);
      at += part.byteLength;
    }
    this.raw(message);
  }

  raw(data: Uint8Array | string): void {
    this.#listener?.message(data);
  }

  remoteClose(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
    this.#listener?.close(code, reason);
  }

  /** Invoke frames sent, as ids. */
  invokes(): number[] {
    return this.sent.filter((f) => f.kind === "invoke").map((f) => f.id);
  }
}

export class FakeNode {
  readonly attempts: {
    resolve: (socket: StreamSocket) => void;
    reject: (error: unknown) => void;
    signal: AbortSignal;
  }[] = [];
  readonly connect: Connect = (signal) => {
    const { promise, resolve, reject } = Promise.withResolvers<StreamSocket>();
    this.attempts.push({ resolve, reject, signal });
    return promise;
  };

  /** Completes the latest connect attempt with a new socket. */
  async accept(): Promise<FakeSocket> {
    const socket = new FakeSocket();
    this.attempts.at(-1)?.resolve(socket);
    await vi.advanceTimersByTimeAsync(0);
    return socket;
  }
}

const streams: NodeStream[] = [];

export function open(options: Partial<NodeStreamOptions> = {}) {
  const node = new FakeNode();
  const sink = logSink();
  const stream = new NodeStream({
    connect: node.connect,
    log: sink.log,
    backoff: { initialMs: 100, maxMs: 100 },
    ...options,
  });
  streams.push(stream);
  return { node, stream, log: sink.entries };
}

export const body = bytes("x");
export const LONG = { deadlineMs: 60_000 };

/** Lets the stream's sender run: it writes at the end of the current task's microtasks. */
export const tick = () => vi.advanceTimersByTimeAsync(0);

/** Fake timers for each test of the calling file, and every stream it opened closed after it. */
export function useFakeLinkClock(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
    vi.useRealTimers();
  });
}
