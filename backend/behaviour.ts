/** How a backend node reacts to requests. */
export const MODES = ["ok", "fail", "hang", "refuse"] as const;

/** ok answers, fail answers an error status, hang never answers, refuse refuses TCP. */
export type Mode = (typeof MODES)[number];

/** How a cluster node answers GET /localnodes. */
export const DISCOVERY_MODES = [
  "normal",
  "garbage",
  "object",
  "bad-entries",
  "hostile",
  "error",
  "hang",
] as const;

/**
 * normal answers the live addresses; garbage answers 200 with a body that is not JSON;
 * object answers 200 with a JSON object; bad-entries answers 200 with an array holding
 * non-address strings and numbers; hostile adds addresses a client must refuse (metadata,
 * link-local, disguised loopback); error answers 500; hang never answers.
 */
export type Discovery = (typeof DISCOVERY_MODES)[number];

/** Periodic outage: 503 during the first downMs of every periodMs window. */
export interface Flap {
  /** Length of the outage at the start of each window, in ms. */
  downMs: number;
  /** Length of one window, in ms. */
  periodMs: number;
}

/** A node's complete, runtime-changeable behaviour. */
export interface Behaviour {
  /** What the node does with requests and connections. */
  mode: Mode;
  /** Status answered in fail mode. */
  failStatus: number;
  /** Delay before response headers (the handshake time); x-backend-delay-ms overrides it. */
  delayMs: number;
  /** Extra delay given to every slowEvery-th request. */
  slowMs: number;
  /** Period of slow requests; 0 means no request is slow. */
  slowEvery: number;
  /** Every failEvery-th request answers failStatus whatever the mode; 0 means none. */
  failEvery: number;
  /** Periodic outage, or null for none. */
  flap: Flap | null;
  /** How GET /localnodes is answered on a cluster node; independent of mode, delays and flap. */
  discovery: Discovery;
}

/** A partial update of a behaviour; absent fields keep their value. */
export type BehaviourPatch = Partial<Behaviour>;

/** Behaviour of a node nobody configured. */
export const DEFAULT_BEHAVIOUR: Readonly<Behaviour> = {
  mode: "ok",
  failStatus: 503,
  delayMs: 0,
  slowMs: 0,
  slowEvery: 0,
  failEvery: 0,
  flap: null,
  discovery: "normal",
};

/** Longest accepted delay: setTimeout misbehaves past 2^31 ms, and tests never need more. */
export const MAX_DELAY_MS = 600_000;

/** Raised for a behaviour patch that names an unknown field or holds a bad value. */
export class BehaviourError extends Error {
  override name = "BehaviourError";
}

const FIELDS = new Set<string>(Object.keys(DEFAULT_BEHAVIOUR));

/** Checks untrusted input (e.g. parsed JSON) and returns it as a patch, or throws BehaviourError. */
export function parseBehaviourPatch(input: unknown): BehaviourPatch {
  if (!isRecord(input)) throw new BehaviourError("behaviour must be a JSON object");
  for (const key of Object.keys(input)) {
    if (!FIELDS.has(key)) throw new BehaviourError(`unknown behaviour field "${key}"`);
  }
  const patch: BehaviourPatch = {};
  if (input.mode !== undefined) {
    if (!MODES.includes(input.mode as Mode)) {
      throw new BehaviourError(`mode must be one of ${MODES.join(", ")}`);
    }
    patch.mode = input.mode as Mode;
  }
  if (input.failStatus !== undefined) {
    patch.failStatus = integerIn(input.failStatus, "failStatus", 400, 599);
  }
  if (input.delayMs !== undefined) patch.delayMs = delay(input.delayMs, "delayMs");
  if (input.slowMs !== undefined) patch.slowMs = delay(input.slowMs, "slowMs");
  if (input.slowEvery !== undefined) {
    patch.slowEvery = integerIn(input.slowEvery, "slowEvery", 0, Number.MAX_SAFE_INTEGER);
  }
  if (input.failEvery !== undefined) {
    patch.failEvery = integerIn(input.failEvery, "failEvery", 0, Number.MAX_SAFE_INTEGER);
  }
  if (input.flap !== undefined) patch.flap = parseFlap(input.flap);
  if (input.discovery !== undefined) {
    if (!DISCOVERY_MODES.includes(input.discovery as Discovery)) {
      throw new BehaviourError(`discovery must be one of ${DISCOVERY_MODES.join(", ")}`);
    }
    patch.discovery = input.discovery as Discovery;
  }
  return patch;
}

/** Whether a flap that started at `since` is in its outage at `now`. */
export function isFlapDown(flap: Flap, since: number, now: number): boolean {
  return (now - since) % flap.periodMs < flap.downMs;
}

function parseFlap(input: unknown): Flap | null {
  if (input === null) return null;
  if (!isRecord(input)) throw new BehaviourError("flap must be null or { downMs, periodMs }");
  for (const key of Object.keys(input)) {
    if (key !== "downMs" && key !== "periodMs") {
      throw new BehaviourError(`unknown flap field "${key}"`);
    }
  }
  const periodMs = delay(input.periodMs, "flap.periodMs");
  const downMs = delay(input.downMs, "flap.downMs");
  if (periodMs <= 0) throw new BehaviourError("flap.periodMs must be positive");
  if (downMs > periodMs) throw new BehaviourError("flap.downMs must not exceed flap.periodMs");
  return { downMs, periodMs };
}

function delay(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_DELAY_MS) {
    throw new BehaviourError(`${name} must be a number of ms between 0 and ${MAX_DELAY_MS}`);
  }
  return value;
}

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new BehaviourError(`${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
