import { readFileSync } from "node:fs";
import parse from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { METRICS, VERSION } from "../../src/metrics/catalogue.ts";
import {
  emptyMetrics,
  forgetIdleNodes,
  MetricsRecorder,
  mergeMetrics,
  NODE_METRICS_RETENTION_MS,
  type NodeTallies,
  nodesIn,
  statusClass,
} from "../../src/metrics/dispatch-metrics.ts";
import { render } from "../../src/metrics/exposition.ts";

describe("the exposition", () => {
  it("parses with a Prometheus text-format parser, escapes included", () => {
    const text = render([
      {
        name: "roundhouse_requests_total",
        type: "counter",
        help: "Client requests.\nSecond line.",
        samples: [
          { labels: { service: "a", node: 'we"ird\\node\nx', class: "2xx" }, value: 3 },
          { labels: { service: "a", node: "", class: "5xx" }, value: 1 },
        ],
      },
      { name: "roundhouse_empty", type: "gauge", help: "never shown", samples: [] },
      {
        name: "roundhouse_handshake_seconds",
        type: "histogram",
        help: "Handshakes.",
        samples: [
          { labels: { le: "0.1" }, value: 2, suffix: "_bucket" },
          { labels: { le: "+Inf" }, value: 3, suffix: "_bucket" },
          { labels: {}, value: 0.5, suffix: "_sum" },
          { labels: {}, value: 3, suffix: "_count" },
        ],
      },
    ]);
    const families = parse(text);
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ["roundhouse_requests_total", "COUNTER"],
      ["roundhouse_handshake_seconds", "HISTOGRAM"],
    ]);
    const [requests, handshake] = families;
    expect(requests?.metrics[0]?.labels?.node).toBe('we"ird\\node\nx');
    expect(requests?.metrics[1]).toEqual({
      value: "1",
      labels: { service: "a", node: "", class: "5xx" },
    });
    expect(handshake?.metrics[0]).toMatchObject({
      buckets: { "0.1": "2", "+Inf": "3" },
      count: "3",
      sum: "0.5",
    });
  });
});

describe("dispatch metrics", () => {
  it("adds up shipments in any order, and a failed shipment's counts come back", () => {
    const a = new MetricsRecorder();
    a.attempt("n1", "response", false);
    a.attempt("n1", "timeout", true);
    a.hedge("n2");
    a.handshake("n1", 7);
    a.handshake("n1", 30_000);
    a.answered("n1", 204);
    a.answered(undefined, 503);
    a.retryRefused();
    a.latencyEjection("n2");
    const first = a.take();
    expect(a.hasPending).toBe(false);
    a.attempt("n1", "response", false);
    a.restore(first);
    const second = a.take();
    const total = emptyMetrics();
    mergeMetrics(total, second);
    expect(total.attempts).toEqual({ n1: { response: 2, timeout: 1 } });
    expect(total.retries).toEqual({ n1: 1 });
    expect(total.requests).toEqual({ n1: { "2xx": 1 }, "": { "5xx": 1 } });
    expect(total.handshakes.n1?.count).toBe(2);
    // 7 ms in the 10 ms bucket, 30 s past the last bound.
    expect(total.handshakes.n1?.buckets[1]).toBe(1);
    expect(total.handshakes.n1?.buckets.at(-1)).toBe(1);
    expect(total.retriesRefused).toBe(1);
    expect(total.latencyEjections).toEqual({ n2: 1 });
    expect([statusClass(101), statusClass(299), statusClass(404), statusClass(599)]).toEqual([
      "1xx",
      "2xx",
      "4xx",
      "5xx",
    ]);
  });
});

describe("the metrics catalogue", () => {
  it("documents every metric in docs/metrics.md", () => {
    const doc = readFileSync("docs/metrics.md", "utf8");
    for (const [name] of Object.values(METRICS)) expect(doc).toContain(`\`${name}\``);
  });

  it("reports the package's version", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});

describe("per-node totals under churn", () => {
  it("keep only the nodes named within the retention, over 50 rounds of new nodes", () => {
    const tallies = { dispatch: emptyMetrics(), ejectionsGranted: {}, lastSeen: {} } as NodeTallies;
    const stepMs = 60_000;
    let now = 1_000_000;
    for (let round = 0; round < 50; round++) {
      const recorder = new MetricsRecorder();
      for (const i of [0, 1]) {
        const id = `r${round}-${i}`;
        recorder.attempt(id, "response", false);
        recorder.handshake(id, 12);
        recorder.answered(id, 200);
      }
      recorder.answered(undefined, 503);
      const counts = recorder.take();
      mergeMetrics(tallies.dispatch, counts);
      for (const id of nodesIn(counts)) tallies.lastSeen[id] = now;
      tallies.ejectionsGranted[`r${round}-0`] = 1;
      forgetIdleNodes(tallies, now);
      now += stepMs;
    }
    const kept = Math.floor(NODE_METRICS_RETENTION_MS / stepMs) + 1;
    expect(Object.keys(tallies.lastSeen)).toHaveLength(2 * kept);
    expect(Object.keys(tallies.dispatch.attempts)).toHaveLength(2 * kept);
    expect(Object.keys(tallies.dispatch.handshakes)).toHaveLength(2 * kept);
    expect(Object.keys(tallies.ejectionsGranted)).toHaveLength(kept);
    // The requests no node answered are no node's: they stay.
    expect(tallies.dispatch.requests[""]).toEqual({ "5xx": 50 });
    expect(tallies.dispatch.attempts["r49-0"]).toEqual({ response: 1 });
    expect(tallies.dispatch.attempts["r0-0"]).toBeUndefined();
  });
});
