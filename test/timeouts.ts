/**
 * Options for a test that does a fixed amount of real work well beyond a typical test's:
 * hundreds of requests, peers or real timers of seconds. Its time depends only on how busy the
 * machine is, so it gets room beyond vitest's default 5 s, which every other test keeps.
 */
export const HEAVY_TEST = { timeout: 20_000 } as const;
