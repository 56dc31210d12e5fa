// A closed-loop load generator: `concurrency` clients, each sending its next request as soon as the
// previous one is answered, for a fixed time. Loopback only.
import http from "node:http";

/** What one load run measured. */
export interface LoadResult {
  readonly ok: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Latency of every answered request, ms, sorted ascending. */
  readonly latenciesMs: number[];
  /** Requests per `x-roundhouse-node` header value. */
  readonly perNode: Record<string, number>;
  /** Every request, when `trace` was asked for. */
  readonly trace: TraceEntry[];
}

/** One request of a traced run: times are `performance.now()` values; status 0 is a transport error. */
export interface TraceEntry {
  readonly sentAt: number;
  readonly doneAt: number;
  readonly status: number;
  readonly attempts: number;
  readonly node?: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly method?: string;
  /** Record every request (for time-resolved scenarios). */
  readonly trace?: boolean;
  /** Request body, sent with every request. */
  readonly body?: string;
  /** Extra request headers. */
  readonly headers?: Record<string, string>;
  /**
   * The figures read which node answered and after how many attempts: the run fails when a 2xx
   * answer names no node (the service lacks `provenance: "headers"`).
   */
  readonly attributed?: boolean;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const target = new URL(options.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) {
    throw new Error(`load only goes to loopback, not ${target.hostname}`);
  }
  const latenciesMs: number[] = [];
  const perNode: Record<string, number> = {};
  const trace: TraceEntry[] = [];
  let ok = 0;
  let errors = 0;
  let unattributed = 0;
  const started = performance.now();
  const stopAt = started + options.durationMs;
  const client = async () => {
    while (performance.now() < stopAt) {
      const sent = performance.now();
      try {
        const { status, node, attempts } = await request(
          agent,
          target,
          options.method ?? "GET",
          options,
        );
        const doneAt = performance.now();
        latenciesMs.push(doneAt - sent);
        if (status < 400) ok++;
        else errors++;
        if (node) perNode[node] = (perNode[node] ?? 0) + 1;
        else if (options.attributed && status < 300) unattributed++;
        if (options.trace) trace.push({ sentAt: sent, doneAt, status, attempts, node });
      } catch {
        errors++;
        if (options.trace)
          trace.push({ sentAt: sent, doneAt: performance.now(), status: 0, attempts: 0 });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  // Per-node counts and attempts come from the provenance headers: without them every figure
  // built on them would read as zero or one, silently.
  if (unattributed > 0) {
    throw new Error(
      `${unattributed} answers carried no x-roundhouse-node: the bench's services need provenance: "headers"`,
    );
  }
  latenciesMs.sort((a, b) => a - b);
  return { ok, errors, elapsedMs, latenciesMs, perNode, trace };
}

function request(
  agent: http.Agent,
  url: URL,
  method: string,
  extra: Pick<LoadOptions, "body" | "headers"> = {},
): Promise<{ status: number; node?: string; attempts: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method, headers: extra.headers }, (res) => {
      res.resume();
      res.on("end", () => {
        const node = res.headers["x-roundhouse-node"];
        resolve({
          status: res.statusCode ?? 0,
          node: typeof node === "string" ? node : undefined,
          attempts: Number(res.headers["x-roundhouse-attempts"] ?? 1),
        });
      });
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(extra.body);
  });
}

/** The q-quantile (0..1) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
