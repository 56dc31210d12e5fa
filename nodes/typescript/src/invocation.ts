import type { NodeConnection } from "./connection.ts";
import type { FaultAction } from "./hooks.ts";
import type { FunctionRequest, Handler } from "./types.ts";

/** A registered function with its settings resolved. */
export interface Registered {
  /** The name it is registered under; undefined for the default function. */
  readonly name: string | undefined;
  readonly handler: Handler;
  readonly idempotent: boolean;
  /** Infinity when unlimited. */
  readonly maxBodyBytes: number;
  /** 0 when unlimited. */
  readonly timeoutMs: number;
}

/** Arrived, not acked yet (waiting for a slot, or an injected ack delay). */
export const WAITING = 0;
/** Acked and running. */
export const RUNNING = 1;
/** Answered, timed out, or its stream closed: a late answer is dropped. */
export const DONE = 2;

const utf8 = new TextDecoder();

/**
 * One invocation: the request its function sees, and the connection's bookkeeping for it, in one
 * object so that an invocation costs one allocation. The abort controller is made only when the
 * function reads `signal`, since most never do.
 */
export class Invocation implements FunctionRequest {
  readonly id: number;
  readonly function: string | undefined;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** The function to run; undefined when there is none of that name. */
  readonly spec: Registered | undefined;
  readonly connection: NodeConnection;
  state: number = WAITING;
  /** Injected misbehaviour to apply once acked (test hooks only). */
  fault: FaultAction | null = null;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #controller: AbortController | null = null;
  #abortReason: unknown;

  constructor(
    connection: NodeConnection,
    id: number,
    name: string | undefined,
    contentType: string,
    body: Uint8Array,
    spec: Registered | undefined,
  ) {
    this.connection = connection;
    this.id = id;
    this.function = name;
    this.contentType = contentType;
    this.body = body;
    this.spec = spec;
  }

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  text(): string {
    return utf8.decode(this.body);
  }

  json(): unknown {
    return JSON.parse(utf8.decode(this.body)) as unknown;
  }

  /** Fires the signal, now if it was read, else as soon as it is. */
  abort(reason: Error): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
}
