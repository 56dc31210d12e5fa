// Command-line settings of the versus bench.
import { parseArgs } from "node:util";
import { SCENARIO_NAMES, type ScenarioName } from "./scenarios.ts";
import { DEFAULT_SYSTEMS, SYSTEM_NAMES, type SystemName } from "./systems.ts";

export interface Settings {
  readonly systems: readonly SystemName[];
  readonly scenarios: readonly ScenarioName[];
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly method: "GET" | "POST";
  readonly basePort: number;
  /** Name of the JSON under bench/results/ and of the SVG under docs/. */
  readonly out: string;
  /** Times each system is measured, in turns; the median round stands for it. */
  readonly rounds: number;
  /** Only draw docs/<out>.svg again from bench/results/<out>.json; measure nothing. */
  readonly redraw: boolean;
}

export const USAGE = `npm run bench -- versus [--systems ${SYSTEM_NAMES.join(",")}]
    [--scenarios ${SCENARIO_NAMES.join(",")}]
    [--duration 10] [--warmup 2] [--connections 30] [--method GET|POST]
    [--base-port 18100] [--out versus] [--rounds 1] [--redraw]
Default: every system but workerd-floor, and every scenario; each connection sends its next request
when the last is answered. Durations in seconds. Writes bench/results/<out>.json and
docs/<out>.svg; --out defaults to versus, or versus-post with --method POST. --redraw only
draws the SVG again from the JSON. --rounds N measures the systems N times in turns and keeps
each one's median round, so a ratio between two systems is read from neighbouring runs.`;

export function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      systems: { type: "string" },
      scenarios: { type: "string" },
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      // A multiple of three, so the direct floor gives each node the same number of connections.
      connections: { type: "string", default: "30" },
      method: { type: "string", default: "GET" },
      out: { type: "string" },
      redraw: { type: "boolean", default: false },
      rounds: { type: "string", default: "1" },
      "base-port": { type: "string", default: "18100" },
    },
  });
  const method = values.method?.toUpperCase();
  if (method !== "GET" && method !== "POST") throw new Error("--method is GET or POST");
  return {
    systems: list(values.systems, SYSTEM_NAMES, DEFAULT_SYSTEMS, "--systems"),
    scenarios: list(values.scenarios, SCENARIO_NAMES, SCENARIO_NAMES, "--scenarios"),
    durationS: number(values.duration, "--duration", 1, 600),
    warmupS: number(values.warmup, "--warmup", 0, 60),
    connections: number(values.connections, "--connections", 1, 1_000),
    method,
    basePort: number(values["base-port"], "--base-port", 1_024, 65_000),
    out: outName(values.out ?? (method === "POST" ? "versus-post" : "versus")),
    rounds: number(values.rounds, "--rounds", 1, 20),
    redraw: values.redraw ?? false,
  };
}

function outName(raw: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(raw)) throw new Error("--out is a plain file name stem");
  return raw;
}

function list<T extends string>(
  raw: string | undefined,
  known: readonly T[],
  fallback: readonly T[],
  flag: string,
): readonly T[] {
  if (raw === undefined) return fallback;
  const chosen = raw.split(",").map((s) => s.trim());
  const unknown = chosen.filter((name) => !known.includes(name as T));
  if (unknown.length > 0 || chosen.length === 0) {
    throw new Error(`${flag}: unknown ${unknown.join(", ")}; choose from ${known.join(", ")}`);
  }
  // Keep the canonical order, so tables and charts line up from run to run.
  return known.filter((name) => chosen.includes(name));
}

function number(raw: string | undefined, flag: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${flag} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}
