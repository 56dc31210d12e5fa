// Runs the checks against one implementation: one shared node, fresh ones on demand.
import { type Check, type CheckContext, Resources } from "./check.ts";
import { type NodeProcess, startNode } from "./node-process.ts";
import type { Outcome } from "./report.ts";

/** Runs `checks` in order against nodes started with `command`, reporting each as it ends. */
export async function runChecks(
  command: string,
  checks: readonly Check[],
  report: (outcome: Outcome) => void,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const record = (check: Check, failure: string | undefined) => {
    const outcome = { id: check.id, description: check.description, failure };
    outcomes.push(outcome);
    report(outcome);
  };
  const longLived = new Resources();
  const scenarios = new Map<string, Promise<unknown>>();
  const background = new Map<Check, Promise<string | undefined>>();
  let shared: NodeProcess | undefined;

  const start = (check: Check, node: NodeProcess): Promise<string | undefined> => {
    const resources = new Resources();
    const context: CheckContext = {
      node,
      raw: (target = node) => resources.raw(target.streamUrl),
      gateway: (target = node) => resources.gateway(target.streamUrl),
      fresh: async () => longLived.node(await startNode(command)),
      scenario<T>(key: string, run: () => Promise<T>): Promise<T> {
        let promise = scenarios.get(key) as Promise<T> | undefined;
        if (!promise) {
          promise = run();
          scenarios.set(key, promise);
        }
        return promise;
      },
    };
    return runBounded(check, context).finally(() => resources.release());
  };

  try {
    for (const [index, check] of checks.entries()) {
      const started = background.get(check);
      if (started) {
        record(check, await started);
        continue;
      }
      if (!shared?.alive) {
        if (shared) await shared.stop();
        try {
          shared = await startNode(command);
        } catch (error) {
          // Each check still gets its line, so the counts say how much went unverified.
          record(check, `node did not start: ${(error as Error).message}`);
          for (const rest of checks.slice(index + 1)) record(rest, "node did not start");
          return outcomes;
        }
        if (background.size === 0) {
          for (const waiting of checks.filter((c) => c.background)) {
            background.set(waiting, start(waiting, shared));
          }
        }
      }
      record(check, await start(check, shared));
    }
    return outcomes;
  } finally {
    await Promise.all(background.values());
    await longLived.release();
    await shared?.stop();
  }
}

/** The check's failure message, or undefined if it passed within its time bound. */
async function runBounded(check: Check, context: CheckContext): Promise<string | undefined> {
  const timeoutMs = check.timeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, `did not finish within ${timeoutMs} ms`);
  });
  const run = check.run(context).then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
