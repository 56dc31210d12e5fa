// What a check is, and what it gets to work with.
import { NodeStream } from "../../src/transport/node-stream.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";
import type { NodeProcess } from "./node-process.ts";
import { RawStream } from "./raw-stream.ts";

/** One conformance check: a stable id from docs/protocol.md and a bounded test. */
export interface Check {
  /** Stable id, e.g. C-SUBPROTO-1; tagged next to its MUST in docs/protocol.md. */
  id: string;
  /** One line on what it verifies. */
  description: string;
  /** Upper bound of the check's run; default 5 s. */
  timeoutMs?: number;
  /**
   * Starts when the suite does and runs alongside the other checks, for a check that mostly
   * waits (it must not disturb them); its verdict is reported in its place in the order.
   */
  background?: boolean;
  /** Resolves if the node conforms; throws an Error saying why not otherwise. */
  run(context: CheckContext): Promise<void>;
}

/** What a check can use; everything it opens is closed after it by the runner. */
export interface CheckContext {
  /** The shared node, started once per implementation (restarted if a check killed it). */
  node: NodeProcess;
  /** A byte-level stream to `node` (default: the shared one). */
  raw(node?: NodeProcess): Promise<RawStream>;
  /** The gateway's own client, connected to `node` (default: the shared one). */
  gateway(node?: NodeProcess): NodeStream;
  /** Starts another node with the same command, for checks that must end one. */
  fresh(): Promise<NodeProcess>;
  /** Runs `run` once per implementation and shares its promise among checks using `key`. */
  scenario<T>(key: string, run: () => Promise<T>): Promise<T>;
}

/** Throws `message` unless `condition` holds. */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** The resources a context opened, so the runner can close them. */
export class Resources {
  readonly #streams: RawStream[] = [];
  readonly #gateways: NodeStream[] = [];
  readonly #nodes: NodeProcess[] = [];

  /** Opens and remembers a raw stream. */
  async raw(url: string): Promise<RawStream> {
    const stream = await RawStream.open(url);
    this.#streams.push(stream);
    return stream;
  }

  /** Creates and remembers a gateway client. */
  gateway(url: string): NodeStream {
    const stream = new NodeStream({
      connect: (signal) => connectWebSocket(url, { signal }),
      // The suite never lets a stream idle long enough for the default heartbeat to matter.
      connectTimeoutMs: 3_000,
    });
    this.#gateways.push(stream);
    return stream;
  }

  /** Remembers a node to stop. */
  node(node: NodeProcess): NodeProcess {
    this.#nodes.push(node);
    return node;
  }

  /** Closes the streams and clients and stops the nodes. */
  async release(): Promise<void> {
    for (const stream of this.#streams.splice(0)) stream.terminate();
    for (const gateway of this.#gateways.splice(0)) gateway.close("check done");
    await Promise.all(this.#nodes.splice(0).map((node) => node.stop()));
  }
}
