import { spawnSync } from "node:child_process";

/** Debian's Python, which the Python node library targets. */
export const PYTHON = "/usr/bin/python3";

/**
 * Whether Debian's Python with its `websockets` package is here. CI installs both (.ci/run);
 * elsewhere a machine without them skips the tests that need them, saying so.
 */
export const pythonAvailable =
  spawnSync(PYTHON, ["-c", "import websockets"], { stdio: "ignore" }).status === 0;

if (!pythonAvailable && process.env.CI) {
  throw new Error(`${PYTHON} with websockets is missing; .ci/run installs python3-websockets`);
}
if (!pythonAvailable) {
  console.warn(
    "skipping: python3-websockets is not installed (apt-get install python3-websockets)",
  );
}
