/**
 * Polls until `check` holds; fails after the deadline instead of sleeping a guessed time. The
 * interval is short because the unit tests wait on loopback events that take a few milliseconds.
 */
export async function waitFor(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met before the deadline");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
