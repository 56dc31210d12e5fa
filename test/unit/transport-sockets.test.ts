import { describe, expect, it, vi } from "vitest";
import {
  adaptWebSocket,
  connectWorkersSocket,
  type SocketListener,
  SUBPROTOCOL,
  type UpgradeFetch,
} from "../../src/transport/index.ts";

/** Just enough of a WHATWG WebSocket, driven by the test. */
class FakeWebSocket extends EventTarget {
  readonly sent: unknown[] = [];
  closed: [number | undefined, string | undefined] | null = null;
  /** Listener count when accept() ran: events must be subscribed before accepting. */
  listenersAtAccept = -1;
  #listeners = 0;
  binaryType = "blob";
  readyState = 1;

  override addEventListener(...args: Parameters<EventTarget["addEventListener"]>): void {
    this.#listeners++;
    super.addEventListener(...args);
  }

  accept(): void {
    this.listenersAtAccept = this.#listeners;
  }

  send(data: unknown): void {
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closed = [code, reason];
  }

  message(data: unknown): void {
    this.dispatchEvent(Object.assign(new Event("message"), { data }));
  }

  remoteClose(code: number, reason: string): void {
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
  }
}

function recorder(): { events: string[]; listener: SocketListener } {
  const events: string[] = [];
  return {
    events,
    listener: {
      message: (data) =>
        events.push(typeof data === "string" ? `text:${data}` : `bytes:${[...data].join(",")}`),
      close: (code, reason) => events.push(`close:${code}:${reason}`),
      error: () => events.push("error"),
    },
  };
}

const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe("adaptWebSocket", () => {
  it("buffers events until subscribed, then delivers them in order", async () => {
    const ws = new FakeWebSocket();
    const socket = adaptWebSocket(ws as unknown as WebSocket);
    ws.message(new Uint8Array([1, 2]).buffer);
    ws.message("hi");
    const { events, listener } = recorder();
    socket.listen(listener);
    ws.message(new Uint8Array([3]));
    await flush();
    ws.remoteClose(1000, "bye");
    expect(events).toEqual(["bytes:1,2", "text:hi", "bytes:3", "close:1000:bye"]);
  });

  it("delivers nothing after unsubscribing", async () => {
    const ws = new FakeWebSocket();
    const socket = adaptWebSocket(ws as unknown as WebSocket);
    const { events, listener } = recorder();
    const unsubscribe = socket.listen(listener);
    await flush();
    unsubscribe();
    ws.message(new Uint8Array([1]).buffer);
    ws.remoteClose(1006, "");
    expect(events).toEqual([]);
  });
});

describe("connectWorkersSocket", () => {
  function upgradeFetch(status: number, ws: FakeWebSocket | null, protocol: string | null) {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetch: UpgradeFetch = async (url, init) => {
      calls.push({ url, init });
      const headers = new Headers(protocol ? { "Sec-WebSocket-Protocol": protocol } : {});
      return { status, headers, webSocket: ws } as unknown as Response;
    };
    return { calls, fetch };
  }

  it("upgrades over fetch and accepts the socket after subscribing", async () => {
    const ws = new FakeWebSocket();
    const { calls, fetch } = upgradeFetch(101, ws, SUBPROTOCOL);
    const socket = await connectWorkersSocket("wss://node.example/_roundhouse/stream", { fetch });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe("https://node.example/_roundhouse/stream");
    expect(calls[0]?.init.headers).toEqual({
      Upgrade: "websocket",
      "Sec-WebSocket-Protocol": SUBPROTOCOL,
    });
    expect(ws.listenersAtAccept).toBe(3);
    socket.send(new Uint8Array([9]));
    expect(ws.sent).toEqual([new Uint8Array([9])]);
  });

  it("refuses a response that is not an upgrade", async () => {
    const { fetch } = upgradeFetch(404, null, null);
    await expect(connectWorkersSocket("ws://node/_roundhouse/stream", { fetch })).rejects.toThrow(
      /HTTP 404/,
    );
  });

  it("refuses a node that selected another subprotocol", async () => {
    const ws = new FakeWebSocket();
    const { fetch } = upgradeFetch(101, ws, "other.v9");
    await expect(connectWorkersSocket("ws://node/s", { fetch })).rejects.toThrow(/other\.v9/);
    expect(ws.closed?.[0]).toBe(1000);
  });

  it("passes the abort signal to fetch", async () => {
    const fetch = vi.fn<UpgradeFetch>(async () => {
      throw new DOMException("aborted", "AbortError");
    });
    const controller = new AbortController();
    controller.abort();
    await expect(
      connectWorkersSocket("ws://node/s", { fetch, signal: controller.signal }),
    ).rejects.toThrow(/aborted/);
    expect(fetch.mock.calls[0]?.[1].signal).toBe(controller.signal);
  });
});
