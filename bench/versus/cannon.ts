// One closed-loop autocannon run, measured the same way for every system: latencies are kept per
// response at hrtime precision (autocannon's own histogram rounds to whole milliseconds, too coarse
// for a loopback floor), and errors are bucketed per second to see when a fault started to hurt.
import autocannon from "autocannon";

export interface LoadSpec {
  /** One URL, or several: autocannon then gives connection i to URL i mod n, for good. */
  readonly urls: readonly string[];
  readonly connections: number;
  readonly durationS: number;
  readonly method: "GET" | "POST";
  /** Something to do this many seconds into the run (a node killed mid-run). */
  readonly at?: { readonly seconds: number; readonly action: () => Promise<void> };
}

export interface Measurement {
  /** Responses of any status plus transport errors. */
  readonly requests: number;
  readonly ok: number;
  readonly non2xx: number;
  /** Connection errors and timeouts as autocannon counts them (each reconnect that fails is one). */
  readonly transportErrors: number;
  readonly elapsedS: number;
  /** 2xx responses per second: what the clients actually got served. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** (non-2xx + transport errors) / requests. */
  readonly errorRate: number;
  readonly statusCounts: Record<string, number>;
  /** Failed requests (non-2xx or transport) in each second of the run. */
  readonly failuresPerSecond: number[];
}

/** Runs the load and returns what it measured; latencies cover every response, not only 2xx. */
export async function runCannon(spec: LoadSpec): Promise<Measurement> {
  for (const url of spec.urls) {
    const host = new URL(url).hostname;
    if (host !== "127.0.0.1") throw new Error(`load goes to loopback only, not ${host}`);
  }
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const failuresPerSecond: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let started = 0;
  const fail = () => {
    const second = Math.floor((performance.now() - started) / 1000);
    failuresPerSecond[second] = (failuresPerSecond[second] ?? 0) + 1;
  };
  const post = spec.method === "POST";
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    started = performance.now();
    const instance = autocannon(
      {
        // autocannon takes an array of URLs although its type says string.
        url: (spec.urls.length === 1 ? spec.urls[0] : spec.urls) as string,
        connections: spec.connections,
        duration: spec.durationS,
        // Stop within 0.1 s of the duration: with the default 1 s sampling a run overshoots by up to 1 s.
        sampleInt: 100,
        method: spec.method,
        // [<id>] is replaced by a fresh id in every request, headers included: each POST carries
        // its own Idempotency-Key, as a real client retrying nothing itself would send.
        idReplacement: post,
        headers: post
          ? { "content-type": "application/json", "idempotency-key": "[<id>]" }
          : undefined,
        body: post ? '{"order":"[<id>]"}' : undefined,
      },
      (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)),
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      latencies.push(ms);
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      if (status >= 200 && status < 300) ok++;
      else {
        non2xx++;
        fail();
      }
    });
    instance.on("reqError", fail);
    if (spec.at) {
      const { seconds, action } = spec.at;
      const timer = setTimeout(() => void action().catch(reject), seconds * 1000);
      instance.once("done", () => clearTimeout(timer));
    }
  });
  const elapsedS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const transportErrors = result.errors;
  const requests = ok + non2xx + transportErrors;
  for (let s = 0; s < Math.ceil(elapsedS); s++) failuresPerSecond[s] ??= 0;
  return {
    requests,
    ok,
    non2xx,
    transportErrors,
    elapsedS,
    rps: ok / elapsedS,
    p50Ms: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    p99Ms: quantile(latencies, 0.99),
    errorRate: requests === 0 ? 0 : (non2xx + transportErrors) / requests,
    statusCounts,
    failuresPerSecond,
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
