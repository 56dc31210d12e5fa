// Figures of the systems Roundhouse is measured against, printed beside our own measurements.

/** Rotation with a lock held across the handshake: round robin, empty payload, 64 concurrent, ops/s. */
export const DISPATCH_REFERENCE = {
  global: { 1: 1470, 2: 1327, 4: 1175 },
  node: { 1: 1492, 2: 2140, 4: 2985 },
  scaling4: { global: 0.8, node: 2.0 },
} as const;

/** Streaming remote throughput, gRPC bidirectional stream per peer, 5000 messages, msgs/s (read off a chart, ±2k). */
export const STREAM_REFERENCE = {
  512: { sync: 15_000, async: 104_500, inOrder: 117_000 },
  1024: { sync: 15_300, async: 107_000, inOrder: 117_000 },
  2048: { sync: 15_700, async: 112_000, inOrder: 116_500 },
  4096: { sync: 16_000, async: 123_500, inOrder: 119_000 },
} as const;
