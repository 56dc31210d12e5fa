import type { DispatchMetrics, MetricsRecorder } from "../metrics/dispatch-metrics.ts";

/** Shortest time between two shipments of one isolate's metrics for one service. */
const SHIP_EVERY_MS = 1_000;

/**
 * Ships an isolate's gathered metrics to the service's coordinator at most once a second, in the
 * background of the dispatch that found a shipment due, so no request waits on it. Counts
 * gathered after a shipment go with the next due one, or when this isolate answers a scrape.
 * Counts whose shipment failed go back to be shipped again.
 */
export class MetricsShipping {
  readonly #recorder: MetricsRecorder;
  readonly #failed: (reason: string) => void;
  #lastAt = Number.NEGATIVE_INFINITY;

  /** `failed` is told why a shipment failed (its counts are kept for the next one). */
  constructor(recorder: MetricsRecorder, failed: (reason: string) => void) {
    this.#recorder = recorder;
    this.#failed = failed;
  }

  /** Ships now, in the background, if a second has passed since the last shipment. */
  afterDispatch(
    now: number,
    background: (work: Promise<unknown>) => void,
    send: (counts: DispatchMetrics) => Promise<void>,
  ): void {
    if (now - this.#lastAt < SHIP_EVERY_MS || !this.#recorder.hasPending) return;
    background(this.ship(now, send));
  }

  /** Ships whatever is pending now, due or not. */
  async ship(now: number, send: (counts: DispatchMetrics) => Promise<void>): Promise<void> {
    if (!this.#recorder.hasPending) return;
    this.#lastAt = now;
    const counts = this.#recorder.take();
    try {
      await send(counts);
    } catch (error) {
      this.#recorder.restore(counts);
      this.#failed(`shipment failed: ${String(error)}`);
    }
  }
}
