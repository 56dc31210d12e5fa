// The shape of every results JSON under bench/results/, one schema per benchmark. writeResult
// checks each file against its schema as it writes it, and `npm run bench -- smoke` checks that
// every benchmark wrote a file that passes, so a figure docs/benchmarks.md names cannot go missing
// without a failure. Extra fields pass: a benchmark may write more than its docs name.
import { z } from "zod";
import { OUTAGE_LEVELS } from "./scope-outage.ts";
import { SCENARIO_NAMES } from "./versus/scenarios.ts";

/** A measured figure: JSON has no NaN, so one that was not measured arrives as null and fails. */
const figure = z.number();
const count = z.int().min(0);
const positive = z.number().positive();

/** The same figure for each of `keys`. */
const each = <const K extends string>(keys: readonly K[], value: z.ZodType = figure) =>
  z.object(Object.fromEntries(keys.map((k) => [k, value])) as Record<K, z.ZodType>);

const Provenance = z.object({
  commit: z.string().regex(/^[0-9a-f]{40}$/, "a full commit id (git rev-parse HEAD)"),
  clean: z.boolean(),
});

const Machine = z.object({
  cpu: z.string(),
  cores: z.int().positive(),
  memoryGiB: figure,
  node: z.string(),
  platform: z.string(),
  date: z.iso.datetime(),
});

const NODE_COUNTS = ["1", "2", "4", "8"] as const;
const SCOPES = ["global", "node"] as const;

const Dispatch = z.object({
  machine: Machine,
  handshakeMs: positive,
  gateLimit: z.int().positive(),
  concurrency: z.int().positive(),
  durationMs: positive,
  idealNodeOpsPerSec: each(NODE_COUNTS),
  opsPerSec: each(SCOPES, each(NODE_COUNTS)),
  scaling: each(SCOPES, each(["2", "4", "8"])),
  peakHandshakesPerNode: count,
  peakHandshakesByRun: each(SCOPES, each(NODE_COUNTS, count)),
  coordinatorRoundTripsPerDispatch: figure,
  gateRoundTripsPerDispatch: figure,
  reference: z.object({ global: z.object({}), node: z.object({}), scaling4: each(SCOPES) }),
});

const Outage = z.object({
  level: z.enum(OUTAGE_LEVELS),
  stopped: z.int().positive(),
  requests: count,
  failedIdempotentRequests: count,
  retriedAfterStop: count,
  failoverMs: figure,
});

const Failover = z.object({
  machine: Machine,
  activeIntervalMs: positive,
  idleIntervalMs: positive,
  concurrency: z.int().positive(),
  phasesMs: each(["warmup", "killAfter", "window", "outageWindow", "outageStage"]),
  requests: z.int().positive(),
  failoverMs: figure,
  failedIdempotentRequests: count,
  retriedAfterKill: count,
  discoveryPerMinuteActive: figure,
  discoveryPerMinuteIdle: figure,
  outages: z.array(Outage).length(OUTAGE_LEVELS.length),
});

const LeaseCell = z.object({
  isolates: z.int().positive(),
  gateLimit: z.int().positive(),
  doRoundTripsPerDispatch: figure,
  allObjectCallsPerDispatch: figure,
  leasedShare: figure,
  peakHandshakesPerNode: count,
  reqPerSec: figure,
  errors: count,
});

const Leases = z.object({
  machine: Machine,
  connections: z.int().positive(),
  durationMs: positive,
  handshakeMs: figure,
  targets: z.object({
    doRoundTripsPerDispatchAtLimit64: figure,
    peakHandshakesNeverAboveLimit: z.boolean(),
  }),
  cells: z.array(LeaseCell).length(6),
  ceiling: z.object({
    isolates: z.int().positive(),
    connections: z.int().positive(),
    durationMs: positive,
    gatePathReqPerSec: figure,
    leasedReqPerSec: figure,
  }),
});

const PHASES = ["healthy", "oneHung", "twentyHung"] as const;
const HUNG = ["oneHung", "twentyHung"] as const;

const PeerSync = z.object({
  machine: Machine,
  peers: z.int().positive(),
  callsPerPhase: z.int().positive(),
  rounds: z.int().positive(),
  peerDelayMs: figure,
  inFlightBound: z.int().positive(),
  peakInFlight: count,
  peakInFlightPerShard: z.array(count).min(1),
  peakInFlightObservedByPeers: count,
  peakInFlightObservedByPeersByPhase: each([...PHASES, "recovery"] as const),
  p50Ms: each(PHASES),
  p99Ms: each(PHASES),
  meanMs: each(PHASES),
  p99Ratio: each(HUNG),
  convergeHealthyMs: figure,
  convergeHealthyMsWithHung: each(HUNG),
  convergeRecoveredMs: figure,
  convergeRecoveredOneMs: figure,
});

const ON_OFF = ["on", "off"] as const;
const HEDGES = ["on", "outlier", "off"] as const;

const Policies = z.object({
  machine: Machine,
  hash: z.object({
    nodes: z.int().positive(),
    keys: z.int().positive(),
    pointsPerWeight: z.int().positive(),
    movedOnAdd: figure,
    movedOnRemove: figure,
    movedOnRemoveMean: figure,
    balanceFactor: figure,
    zipfS: figure,
    requestsInFlight: z.int().positive(),
    maxOverMean: each(["bounded", "unbounded"]),
  }),
  retryBudget: z.object({
    concurrency: z.int().positive(),
    durationMs: positive,
    attemptsPerRequest: each(ON_OFF),
    requests: each(ON_OFF, z.int().positive()),
    errorRate: each(ON_OFF),
  }),
  hedging: z.object({
    concurrency: z.int().positive(),
    durationMs: positive,
    slowMs: positive,
    p50Ms: each(HEDGES),
    p99Ms: each(HEDGES),
    requests: each(HEDGES, z.int().positive()),
  }),
});

const Profile = z.object({
  machine: Machine,
  settings: z.object({
    worker: z.enum(["roundhouse", "workerd-floor"]),
    policy: z.string(),
    durationS: positive,
    warmupS: figure,
    connections: z.int().positive(),
  }),
  requests: z.int().positive(),
  rps: figure,
  busyMs: figure,
  sampledMs: figure,
  perRequestUs: figure,
  top: z.array(z.object({ label: z.string(), selfMs: figure, share: figure })).min(1),
});

const MODES = ["sync", "async", "inOrder"] as const;
/** The by-queue figures keep the modes' own names. */
const MODE_NAMES = ["sync", "async", "in-order"] as const;
const QUEUES = ["64", "512", "1024", "2048", "4096"] as const;

/** A ratio measured side by side in one run, beside the target it is judged by. */
const Ratio = z.object({ value: figure, atLeast: figure, met: z.boolean() });

const Stream = z.object({
  machine: Machine,
  count: z.int().positive(),
  repeats: z.int().positive(),
  msgsPerSecByQueue: each(MODE_NAMES, each(QUEUES)),
  msgsPerSecNodeClientByQueue: each(MODE_NAMES, each(QUEUES)),
  msgsPerSec: each(MODES),
  msgsPerSecNodeClient: each(MODES),
  ratios: z.object({
    gateOverNodeClientAsync: Ratio,
    asyncOverSync: Ratio,
    inOrderOverAsync: Ratio,
  }),
  invokePerSec: each(["stream", "http"]),
  invokeP99Ms: each(["stream", "http"]),
  invokeErrors: each(["stream", "http"], count),
  /** Present with --node: each node library beside the reference node. */
  libraries: z
    .partialRecord(
      z.enum(["typescript", "python"]),
      z.object({
        asyncMsgsPerSec: each(["gate", "nodeClient"]),
        referenceAsyncMsgsPerSec: each(["gate", "nodeClient"]),
        ratio: Ratio,
        nodeClientRatio: figure,
        invokePerSec: figure,
        invokeP99Ms: figure,
        invokeErrors: count,
      }),
    )
    .optional(),
  reference: z.object({}),
});

const Timing = z.object({
  rps: figure,
  p50Ms: figure,
  p90Ms: figure,
  p99Ms: figure,
  cpuMsPerRequest: figure.nullable(),
});

const SystemResult = Timing.extend({
  errorRate: figure,
  requests: count,
  non2xx: count,
  transportErrors: count,
  statusCounts: z.record(z.string(), count),
  failuresPerSecond: z.array(count),
  perNode: z.record(z.string(), count),
});

const Scenarios = <T extends z.ZodType>(value: T) =>
  z.partialRecord(z.enum(SCENARIO_NAMES), z.record(z.string(), value));

const FloorRatio = z.object({
  cpu: figure.nullable(),
  rps: figure,
  byRound: z.array(z.object({ cpu: figure.nullable(), rps: figure })).optional(),
  targets: z.object({ cpuAtMost: figure, rpsAtLeast: figure, met: z.boolean() }),
});

const Versus = z
  .object({
    machine: Machine,
    settings: z.object({
      systems: z.array(z.string()).min(1),
      scenarios: z.array(z.enum(SCENARIO_NAMES)).min(1),
      durationS: positive,
      warmupS: figure,
      connections: z.int().positive(),
      method: z.enum(["GET", "POST"]),
      rounds: z.int().positive(),
      versions: z.object({ nginx: z.string(), haproxy: z.string(), wrangler: z.string() }),
    }),
    scenarios: Scenarios(SystemResult),
    overhead: z.object({ viaWrangler: Timing, direct: Timing.optional() }).optional(),
    floorRatio: FloorRatio.optional(),
    rounds: Scenarios(z.array(SystemResult)).optional(),
    skipped: z.record(z.string(), z.string()),
  })
  .superRefine((result, ctx) => {
    const healthy = result.scenarios.healthy ?? {};
    if (healthy["roundhouse-workerd"] && healthy["workerd-floor"] && !result.floorRatio) {
      ctx.addIssue({
        code: "custom",
        path: ["floorRatio"],
        message: "required when the healthy scenario measured roundhouse-workerd and workerd-floor",
      });
    }
  });

/** Every benchmark's results schema, by the name writeResult is given. */
export const RESULT_SCHEMAS = {
  dispatch: Dispatch,
  failover: Failover,
  leases: Leases,
  "peer-sync": PeerSync,
  policies: Policies,
  profile: Profile,
  stream: Stream,
  versus: Versus,
} as const;

export type ResultKind = keyof typeof RESULT_SCHEMAS;

/** What is wrong with a parsed results file of `kind`, one line per problem; none when it passes. */
export function checkResult(kind: ResultKind, json: unknown): string[] {
  const checked = Provenance.and(RESULT_SCHEMAS[kind]).safeParse(json);
  if (checked.success) return [];
  return checked.error.issues.map(
    (issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`,
  );
}
