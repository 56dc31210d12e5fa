// Figures of the systems Roundhouse is measured against, printed beside our own measurements.

/** Rotation with a lock held across the handshake: round robin, empty payload, 64 concurrent, ops/s. */
export const DISPATCH_REFERENCE = {
  global: { 1: 1470, 2: 1327, 4: 1175 },
  node: { 1: 1492, 2: 2140, 4: 2985 },
  scaling4: { global: 0.8, node: 2.0 },
} as const;
