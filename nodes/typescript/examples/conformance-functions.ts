// The functions docs/conformance.md asks of a node under test, shared by this library's
// conformance node and the reference node's (backend/conformance-node.ts).
import type { FunctionRequest, FunctionSpec, Handler } from "../src/index.ts";

/** Echoes the body with its content-type. */
export const echo: Handler = (request) => ({
  status: 200,
  contentType: request.contentType,
  body: request.body,
});

/**
 * The named functions; `aborted` reads the node's count of fired abort signals, which only
 * exists once the node does.
 */
export function conformanceFunctions(
  abortedSoFar: () => number,
): Record<string, Handler | FunctionSpec> {
  let seqStarted = 0;
  return {
    echo,
    idem: { handler: echo, idempotent: true },
    async sleep(request) {
      await sleep(Number(request.text()), request.signal);
      return "slept";
    },
    fail(request) {
      throw new Error(request.text());
    },
    seq: () => String(seqStarted++),
    aborted: () => String(abortedSoFar()),
    small: { handler: echo, maxBodyBytes: 16 },
    slow: {
      handler: (request: FunctionRequest) => sleep(Infinity, request.signal),
      timeoutMs: 100,
    },
  };
}

/** Resolves after `ms`, or as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // setTimeout caps its delay at 2^31 - 1 ms; past it a wait only ends by abort.
    const timer =
      Number.isFinite(ms) && ms >= 0 ? setTimeout(done, Math.min(ms, 2 ** 31 - 1)) : undefined;
    signal.addEventListener("abort", done, { once: true });
  });
}
