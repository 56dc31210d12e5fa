import { describe, expect, it } from "vitest";
import { emptyMetrics, MetricsRecorder } from "../../src/metrics/dispatch-metrics.ts";
import {
  addToHistory,
  type HistoryStep,
  quantileMs,
  recentFigures,
  STEP_MS,
  STEPS,
} from "../../src/metrics/history.ts";

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % STEP_MS);

/** One shipment: `ok` requests answered 2xx and `failed` 5xx by `node`, each with a handshake. */
function shipment(node: string, ok: number, failed: number, handshakeMs = 4) {
  const recorder = new MetricsRecorder();
  for (let i = 0; i < ok + failed; i++) {
    recorder.attempt(node, "response", false, i >= ok);
    recorder.handshake(node, handshakeMs);
    recorder.answered(node, i < ok ? 200 : 503);
  }
  return recorder.take();
}

describe("the recent history", () => {
  it("adds shipments to the step they arrive in and keeps five minutes of steps", () => {
    const history: HistoryStep[] = [];
    addToHistory(history, shipment("a", 3, 1), T0 + 1_000);
    addToHistory(history, shipment("a", 2, 0), T0 + 9_000);
    expect(history).toHaveLength(1);
    expect(history[0]?.requests.a).toEqual({ "2xx": 5, "5xx": 1 });
    expect(history[0]?.attempts.a).toBe(6);
    expect(history[0]?.failures.a).toBe(1);
    for (let step = 1; step <= STEPS + 5; step++) {
      addToHistory(history, shipment("a", 1, 0), T0 + step * STEP_MS);
    }
    expect(history).toHaveLength(STEPS);
    expect(history[0]?.at).toBe(T0 + 6 * STEP_MS);
    addToHistory(history, emptyMetrics(), T0 + 100 * STEP_MS);
    expect(history.at(-1)?.requests).toEqual({});
  });

  it("gives rates, error rates and percentiles over a window, for a node or the service", () => {
    const history: HistoryStep[] = [];
    addToHistory(history, shipment("a", 9, 1, 4), T0);
    addToHistory(history, shipment("b", 10, 0, 40), T0 + STEP_MS);
    const now = T0 + 2 * STEP_MS;
    const service = recentFigures(history, now - 20_000, now);
    expect(service.perSecond).toBe(1);
    expect(service.errorRate).toBeCloseTo(0.05);
    // Half the handshakes took 4 ms (the 5 ms bucket), half 40 ms (the 50 ms bucket).
    expect(service.p50Ms).toBe(5);
    expect(service.p99Ms).toBe(50);
    const a = recentFigures(history, now - 20_000, now, "a");
    expect(a.errorRate).toBeCloseTo(0.1);
    expect(a.p99Ms).toBe(5);
    // A window after both steps sees nothing.
    expect(recentFigures(history, now + STEP_MS, now + 2 * STEP_MS)).toEqual({
      perSecond: 0,
      errorRate: 0,
      p50Ms: null,
      p99Ms: null,
    });
  });

  it("puts a quantile past the last bucket at the last bound", () => {
    expect(quantileMs([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4], 0.5)).toBe(10_000);
    expect(quantileMs([], 0.5)).toBeNull();
  });
});
