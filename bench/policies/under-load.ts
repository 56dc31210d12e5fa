// The gateway half of `npm run bench -- policies`: the retry budget and hedging, measured on the
// real gateway under `wrangler dev` with reference nodes on loopback, every variant as a service
// of one gateway so that all of them run side by side in the same run.
import type { Fleet } from "../../backend/fleet.ts";
import { startGateway } from "../gateway.ts";
import { runLoad } from "../load.ts";
import { percentile } from "../report.ts";

/** Attempts per request with and without the retry budget, every node failing half its requests. */
export interface BudgetFigures {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly attemptsPerRequest: { readonly on: number; readonly off: number };
  readonly requests: { readonly on: number; readonly off: number };
  /** Share of requests answered 5xx. */
  readonly errorRate: { readonly on: number; readonly off: number };
}

/** Latency with one node slow on 10% of its answers, by what the service does about it. */
export interface HedgeFigures {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly slowMs: number;
  readonly p50Ms: { readonly on: number; readonly outlier: number; readonly off: number };
  readonly p99Ms: { readonly on: number; readonly outlier: number; readonly off: number };
  readonly requests: { readonly on: number; readonly outlier: number; readonly off: number };
}

interface Options {
  readonly port: number;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Runs of each variant, taken in turn, so drift of the machine spreads over all of them. */
  readonly rounds: number;
}

/** Runs `variants` in turn for `rounds` rounds and returns each one's traced runs concatenated. */
async function interleaved(
  url: string,
  variants: readonly string[],
  options: Options,
): Promise<Map<string, { attempts: number[]; latencies: number[]; errors: number }>> {
  const out = new Map(
    variants.map((v) => [v, { attempts: [] as number[], latencies: [] as number[], errors: 0 }]),
  );
  for (let round = 0; round < options.rounds; round++) {
    for (const variant of variants) {
      const run = await runLoad({
        url: `${url}/s/${variant}/`,
        concurrency: options.concurrency,
        durationMs: options.durationMs,
        trace: true,
        attributed: true,
      });
      const into = out.get(variant) as { attempts: number[]; latencies: number[]; errors: number };
      for (const t of run.trace) {
        into.attempts.push(t.attempts);
        into.latencies.push(t.doneAt - t.sentAt);
        if (t.status >= 500 || t.status === 0) into.errors++;
      }
    }
  }
  for (const figures of out.values()) figures.latencies.sort((a, b) => a - b);
  return out;
}

const mean = (values: readonly number[]) =>
  values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;

export async function budgetFigures(fleet: Fleet, options: Options): Promise<BudgetFigures> {
  const nodes = await Promise.all(
    [0, 1, 2].map(() => fleet.addNode({ behaviour: { failEvery: 2, failStatus: 503 } })),
  );
  const common = {
    allow: ["127.0.0.0/8"],
    // Attempts per request come from the provenance headers.
    provenance: "headers",
    nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
    // Failures here are the load, not a sick node: no ejection, so every node stays in rotation.
    ejection: { consecutiveFailures: 1_000 },
  };
  const services = [
    { name: "budget-on", ...common, retry: { budget: { percent: 20, minRetries: 3 } } },
    { name: "budget-off", ...common, retry: { budget: false } },
  ];
  const gateway = await startGateway({ services }, options.port);
  try {
    const runs = await interleaved(gateway.url, ["budget-on", "budget-off"], options);
    const on = runs.get("budget-on") as { attempts: number[]; errors: number };
    const off = runs.get("budget-off") as { attempts: number[]; errors: number };
    return {
      concurrency: options.concurrency,
      durationMs: options.durationMs * options.rounds,
      attemptsPerRequest: { on: mean(on.attempts), off: mean(off.attempts) },
      requests: { on: on.attempts.length, off: off.attempts.length },
      errorRate: {
        on: on.errors / on.attempts.length,
        off: off.errors / off.attempts.length,
      },
    };
  } finally {
    await gateway.stop();
    await Promise.all(nodes.map((n) => fleet.removeNode(n.id)));
  }
}

export async function hedgeFigures(fleet: Fleet, options: Options): Promise<HedgeFigures> {
  const slowMs = 300;
  const nodes = await Promise.all([
    fleet.addNode({ behaviour: { slowEvery: 10, slowMs } }),
    fleet.addNode(),
    fleet.addNode(),
  ]);
  const common = {
    allow: ["127.0.0.0/8"],
    // The run reads attempts from the provenance headers, as the budget's does.
    provenance: "headers",
    nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
  };
  const services = [
    { name: "hedge-on", ...common, retry: { hedge: { afterMs: 25, percentile: 95 } } },
    // The floor is lowered from its 50 ms default, which the slow node's mean of about 30 ms
    // would never pass: this is latency ejection at its most eager.
    { name: "hedge-outlier", ...common, latencyEjection: { floorMs: 10 } },
    { name: "hedge-off", ...common },
  ];
  const gateway = await startGateway({ services }, options.port);
  try {
    const runs = await interleaved(
      gateway.url,
      ["hedge-on", "hedge-outlier", "hedge-off"],
      options,
    );
    const of = (name: string) => runs.get(name) as { latencies: number[] };
    const by = (pick: (l: number[]) => number) => ({
      on: pick(of("hedge-on").latencies),
      outlier: pick(of("hedge-outlier").latencies),
      off: pick(of("hedge-off").latencies),
    });
    return {
      concurrency: options.concurrency,
      durationMs: options.durationMs * options.rounds,
      slowMs,
      p50Ms: by((l) => percentile(l, 50)),
      p99Ms: by((l) => percentile(l, 99)),
      requests: by((l) => l.length),
    };
  } finally {
    await gateway.stop();
    await Promise.all(nodes.map((n) => fleet.removeNode(n.id)));
  }
}
