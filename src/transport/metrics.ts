/** Running totals a NodeStream keeps; all monotonic except the two latency figures. */
export interface Metrics {
  /** Invoke frames written. */
  sent: number;
  /** Acks received for known invocations. */
  acked: number;
  /** Result frames received for known invocations. */
  results: number;
  /** Function-failed error frames received. */
  errors: number;
  /** Invocations the node rejected instead of acking (e.g. after goaway). */
  rejected: number;
  /** Invocations failed with NotAckedError because their stream was lost or never opened. */
  notAcked: number;
  /** Invocations failed with LostAfterAckError. */
  lostAfterAck: number;
  /** Replacement streams that opened after the first one. */
  reconnects: number;
  /** Connect attempts that failed or timed out. */
  connectFailures: number;
  /** Ack/result/error frames whose id was not in flight; ignored. */
  unknownIds: number;
  /** Frames for invocations whose caller had already given up. */
  late: number;
  /** Streams closed because the node broke the protocol. */
  protocolErrors: number;
  /** Streams declared dead by the heartbeat. */
  heartbeatTimeouts: number;
  /** Goaway frames received. */
  goaways: number;
  /** Callers failed with BusyError. */
  busy: number;
  /** Callers failed with DeadlineError. */
  deadlines: number;
  /** Callers failed with AbortedError. */
  aborted: number;
  /** Pings written. */
  pingsSent: number;
  /** Pongs received. */
  pongs: number;
  /** Smoothed send-to-ack latency in ms; 0 until the first ack. */
  ackLatencyMs: number;
  /** Round trip of the latest ping in ms; 0 until the first pong. */
  rttMs: number;
}

export function newMetrics(): Metrics {
  return {
    sent: 0,
    acked: 0,
    results: 0,
    errors: 0,
    rejected: 0,
    notAcked: 0,
    lostAfterAck: 0,
    reconnects: 0,
    connectFailures: 0,
    unknownIds: 0,
    late: 0,
    protocolErrors: 0,
    heartbeatTimeouts: 0,
    goaways: 0,
    busy: 0,
    deadlines: 0,
    aborted: 0,
    pingsSent: 0,
    pongs: 0,
    ackLatencyMs: 0,
    rttMs: 0,
  };
}

/** Folds one ack latency sample into the smoothed figure. */
export function recordAckLatency(metrics: Metrics, ms: number): void {
  metrics.ackLatencyMs = metrics.ackLatencyMs === 0 ? ms : metrics.ackLatencyMs * 0.9 + ms * 0.1;
}
