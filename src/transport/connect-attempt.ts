import type { Connect, StreamSocket } from "./socket.ts";

/**
 * One attempt to open a link's socket, bounded by a timeout and cancellable. It ends once: with
 * a socket (`opened`), or with a failure (`failed`: the connect threw or rejected, or the timeout
 * fired); `cancel` ends it without either, and a socket that arrives after it ended is handed to
 * `late` so that it is not leaked.
 */
export class ConnectAttempt {
  readonly #abort = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending = false;

  start(
    connect: Connect,
    timeoutMs: number,
    handlers: {
      opened(socket: StreamSocket): void;
      failed(error: unknown): void;
      late(socket: StreamSocket): void;
    },
  ): void {
    const signal = this.#abort.signal;
    this.#pending = true;
    this.#timer = setTimeout(() => {
      this.#abort.abort(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (error: unknown) => {
      if (this.#end()) handlers.failed(error);
    };
    signal.addEventListener("abort", () => fail(signal.reason), { once: true });
    let attempt: Promise<StreamSocket>;
    try {
      attempt = connect(signal);
    } catch (error) {
      attempt = Promise.reject(error);
    }
    attempt.then((socket) => {
      if (this.#end()) handlers.opened(socket);
      else handlers.late(socket);
    }, fail);
  }

  /** Gives the attempt up (the link closed first); no handler runs after this. */
  cancel(reason: string): void {
    if (this.#end()) this.#abort.abort(new Error(reason));
  }

  /** Marks the attempt over; false if it already was. */
  #end(): boolean {
    if (!this.#pending) return false;
    this.#pending = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    return true;
  }
}
