/**
 * How a backoff spreads its sleeps. Each callers' kind is the one its failure calls for:
 * - full: anywhere in [0, nominal), so that clients that failed together do not retry together
 *   (AWS's full jitter; the attempt loop, where a short wait is no harm);
 * - half: in [nominal/2, nominal], never much shorter than planned (reconnects, which must not
 *   hammer a node that just went away);
 * - spread: nominal ± share, keeping the total bounded by a known figure (peer pushes, whose
 *   retry budget must stay below the request timeout);
 * - shave: up to `share` shorter, never longer (peers marked down, whose wait is a ceiling).
 */
export type Jitter =
  | { readonly kind: "full" }
  | { readonly kind: "half" }
  | { readonly kind: "spread"; readonly share: number }
  | { readonly kind: "shave"; readonly share: number };

/** An exponential backoff: base × factor^step, at most `capMs`, then jittered. */
export interface Backoff {
  /** Sleep before the first retry (step 0), before jitter. */
  readonly baseMs: number;
  /** Growth of each sleep over the previous one; default 2. */
  readonly factor?: number;
  /** Upper bound of a sleep before jitter; none when absent. */
  readonly capMs?: number;
  readonly jitter: Jitter;
}

/** Steps beyond which growth stops mattering (2^40 ms is decades); keeps the power finite. */
const MAX_STEP = 40;

/** The sleep before retry `step` (0 for the first), with `random()` in [0, 1) choosing the jitter. */
export function backoffDelay(backoff: Backoff, step: number, random: () => number): number {
  const grown = backoff.baseMs * (backoff.factor ?? 2) ** Math.min(Math.max(0, step), MAX_STEP);
  const nominal = Math.min(backoff.capMs ?? Number.POSITIVE_INFINITY, grown);
  const jitter = backoff.jitter;
  switch (jitter.kind) {
    case "full":
      return Math.floor(random() * nominal);
    case "half":
      return Math.round(nominal / 2 + (random() * nominal) / 2);
    case "spread":
      return Math.floor(nominal * (1 + jitter.share * (2 * random() - 1)));
    case "shave":
      return Math.round(nominal * (1 - jitter.share * random()));
  }
}
