// `npm run bench -- policies`: consistent hashing (key movement, load over the mean with skewed
// keys), the retry budget (attempts per request while every node fails half its requests) and
// hedging (latency while one node is slow on 10% of its answers). Writes bench/results/policies.json.
import { parseArgs } from "node:util";
import { startFleet } from "../backend/fleet.ts";
import { hashFigures } from "./policies/hash.ts";
import { budgetFigures, hedgeFigures } from "./policies/under-load.ts";
import { fmt, machine, printTable, writeResult } from "./report.ts";

export async function policiesBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: "string", default: "32" },
      "duration-ms": { type: "string", default: "5000" },
      rounds: { type: "string", default: "2" },
      port: { type: "string", default: "8791" },
    },
  });
  const options = {
    port: Number(values.port),
    concurrency: Number(values.concurrency),
    durationMs: Number(values["duration-ms"]),
    rounds: Number(values.rounds),
  };
  const hash = hashFigures();
  const limit = 1.2 / hash.nodes;
  console.log(
    `\nconsistent hashing: ${hash.nodes} nodes, ${hash.keys} keys, ${hash.pointsPerWeight} points per node`,
  );
  printTable(
    ["figure", "measured", "target"],
    [
      ["keys moved, node added", fmt(hash.movedOnAdd, 4), `≤ ${fmt(limit, 3)}`],
      ["keys moved, node removed (worst of 10)", fmt(hash.movedOnRemove, 4), `≤ ${fmt(limit, 3)}`],
      ["max load / mean, bounded (c = 1.25)", fmt(hash.maxOverMean.bounded, 3), "≤ 1.25"],
      ["max load / mean, unbounded", fmt(hash.maxOverMean.unbounded, 3), "-"],
    ],
  );

  const fleet = await startFleet({ host: "127.0.0.1" });
  try {
    const budget = await budgetFigures(fleet, options);
    console.log(
      `\nretry budget: 3 nodes each failing every 2nd request, ${options.concurrency} clients`,
    );
    printTable(
      ["budget", "attempts/request", "requests", "5xx rate", "target"],
      [
        [
          "on (20%, min 3)",
          fmt(budget.attemptsPerRequest.on, 3),
          budget.requests.on,
          fmt(budget.errorRate.on, 3),
          "≤ 1.25",
        ],
        [
          "off",
          fmt(budget.attemptsPerRequest.off, 3),
          budget.requests.off,
          fmt(budget.errorRate.off, 3),
          "-",
        ],
      ],
    );
    const hedgeOptions = { ...options, concurrency: 8 };
    const hedge = await hedgeFigures(fleet, hedgeOptions);
    console.log(`\nhedging: 1 of 3 nodes adds ${hedge.slowMs} ms to every 10th answer, 8 clients`);
    printTable(
      ["service", "p50 ms", "p99 ms", "requests"],
      [
        [
          "hedge (p95, at least 25 ms)",
          fmt(hedge.p50Ms.on, 1),
          fmt(hedge.p99Ms.on, 1),
          hedge.requests.on,
        ],
        [
          "latency ejection",
          fmt(hedge.p50Ms.outlier, 1),
          fmt(hedge.p99Ms.outlier, 1),
          hedge.requests.outlier,
        ],
        ["neither", fmt(hedge.p50Ms.off, 1), fmt(hedge.p99Ms.off, 1), hedge.requests.off],
      ],
    );
    console.log(
      `hedged p99 / unhedged p99: ${fmt(hedge.p99Ms.on / hedge.p99Ms.off, 2)} (target ≤ 0.5)`,
    );
    const result = {
      machine: machine(),
      hash,
      retryBudget: budget,
      hedging: hedge,
    };
    console.log(`wrote ${writeResult("policies", result)}`);
  } finally {
    await fleet.close();
  }
}
