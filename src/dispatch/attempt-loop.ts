import type { MemberNode } from "../balancer/membership.ts";
import type { NodePlan } from "../balancer/node-plan.ts";
import { backoffMs, type RetryPolicy } from "../balancer/retry-policy.ts";
import type { ScopeLevel } from "../balancer/scope.ts";
import type { AttemptOutcomeLabel } from "../metrics/dispatch-metrics.ts";
import type { DispatchDeps } from "./deps.ts";
import { type PlanHints, planFor } from "./plan.ts";

/**
 * What an attempt's result means for the dispatch. final: it is the answer, no other node is
 * tried. fallback: an answer that stands only if no other node does better (a 503 that may be
 * retried). retry: no answer; another node may be tried. stop: no answer, and no other node may
 * be tried (an upload that cannot be sent again).
 */
export type Decision = "final" | "fallback" | "retry" | "stop";

/** What the loop needs to know of how one attempt ended. */
export interface Verdict {
  readonly decision: Decision;
  /** The attempt reached, or may have reached, a node: it counts toward `maxAttempts`. */
  readonly counted: boolean;
  /** The attempt's handshake time is a latency sample. */
  readonly measured: boolean;
  readonly ejectedUntil?: number | undefined;
  /** How it ended, for the metrics; undefined for a hedge's loser cut short here. */
  readonly outcome: AttemptOutcomeLabel | undefined;
  /** It counts against the node: a network error, a timeout or a 5xx answer. */
  readonly failed?: boolean;
}

/** Why and how a dispatch ended without an answer to pass on. */
export interface DispatchEnd<R> {
  readonly last: R | undefined;
  readonly attempts: number;
  /** Nodes an attempt was started at, in order (a node picked after the deadline is not one). */
  readonly attempted: string[];
  /**
   * exhausted: every routable node tried; attempts: the cap was hit; budget: the retry budget
   * had no room; others as named.
   */
  readonly stop: "exhausted" | "attempts" | "budget" | "not-retryable" | "deadline";
  readonly pastDeadline: boolean;
}

/**
 * A dispatch's answer and who gave it. The route reads the node and attempt count from here, not
 * from the answer's headers: under `provenance: "none"` a node's answer passes through as fetched,
 * headers untouched (and immutable).
 */
export interface Dispatched {
  readonly response: Response;
  /** The node whose answer this is; undefined when the gateway answered with a problem. */
  readonly node: string | undefined;
  readonly attempts: number;
  /** Why the last attempt failed, in the runtime's words: for the log, never the client. */
  readonly cause?: string | undefined;
}

/** One kind of attempt (a proxied request, an invocation) as the loop drives it. */
export interface AttemptKind<R> extends PlanHints {
  /** Time the whole dispatch may take. */
  readonly deadlineMs: number;
  /** The service's retry settings: attempt cap and backoff. */
  readonly retry: RetryPolicy;
  /**
   * Runs one attempt; undefined when it cannot start (a one-shot body was spent). `cancel` fires
   * when another attempt's answer has won.
   */
  run(
    node: MemberNode,
    remainingMs: number,
    panic: boolean,
    cancel: AbortSignal,
  ): Promise<R> | undefined;
  judge(result: R): Verdict;
  /** Lets go of a result that will not be the answer (cancels its body). */
  discard(result: R): Promise<void>;
  answer(result: R, nodeId: string, attempts: number): Response;
  fail(end: DispatchEnd<R>): Response;
  /** The runtime's words for a failed result, which the problem answer leaves out. */
  causeOf?(result: R): string | undefined;
  /** Delay after which a slow attempt gets a hedge at another node; undefined: never hedge. */
  hedgeAfterMs?(): number | undefined;
}

/** An attempt under way. */
interface Flight<R> {
  readonly node: MemberNode;
  readonly cancel: AbortController;
  readonly settled: Promise<Settled<R>>;
}

interface Settled<R> {
  readonly flight: Flight<R>;
  readonly result: R;
  readonly verdict: Verdict;
}

const HEDGE: unique symbol = Symbol("hedge");

/**
 * The one attempt loop: a plan of nodes in the service's order, then one node after another
 * while the verdicts allow, each new node untried, within the attempt cap, the retry budget and
 * the deadline, with backoff between attempts that reached a node. The last answer stands when
 * there is nowhere left to go, as with Envoy and NGINX.
 */
export async function runAttempts<R>(
  kind: AttemptKind<R>,
  chain: readonly ScopeLevel[],
  deps: DispatchDeps,
): Promise<Dispatched> {
  deps.runtime.counters.dispatches++;
  const leave = deps.runtime.retryBudget.enterRequest();
  try {
    const plan = await planFor(chain, deps, kind);
    const dispatched = await new AttemptRun(kind, chain, deps, plan).run();
    deps.runtime.metrics.answered(dispatched.node, dispatched.response.status);
    return dispatched;
  } finally {
    leave();
    deps.shipMetrics?.();
  }
}

/**
 * One dispatch's attempts. Without hedging one is in flight at a time; with it, a slow attempt
 * gets a second one at another node after the hedge delay, the first answer that stands wins, and
 * the others are cancelled (Envoy's hedge_on_per_try_timeout). A hedge counts toward the attempt
 * cap and is a retry to the budget.
 */
class AttemptRun<R> {
  readonly #kind: AttemptKind<R>;
  readonly #chain: readonly ScopeLevel[];
  readonly #deps: DispatchDeps;
  readonly #plan: NodePlan;
  readonly #deadline: number;
  readonly #flights = new Set<Flight<R>>();
  readonly #attempted: string[] = [];
  #attempts = 0;
  #last: R | undefined;
  /** A retryable answer set aside while another attempt was out: it stands if nothing better comes. */
  #standing: Settled<R> | undefined;
  #stop: DispatchEnd<R>["stop"] = "exhausted";
  #hedgeAfterMs: number | undefined;
  #launchedAt = 0;

  constructor(
    kind: AttemptKind<R>,
    chain: readonly ScopeLevel[],
    deps: DispatchDeps,
    plan: NodePlan,
  ) {
    this.#kind = kind;
    this.#chain = chain;
    this.#deps = deps;
    this.#plan = plan;
    this.#deadline = deps.now() + kind.deadlineMs;
    this.#hedgeAfterMs = kind.hedgeAfterMs?.();
  }

  async run(): Promise<Dispatched> {
    let next = this.#plan.next();
    let release: (() => void) | undefined;
    for (;;) {
      if (this.#flights.size === 0) {
        if (next === undefined || !this.#launch(next, release)) break;
        next = undefined;
        release = undefined;
      }
      const event = await this.#nextEvent();
      if (event === HEDGE) {
        this.#hedge();
        continue;
      }
      const answer = this.#settle(event);
      if (answer) return answer;
      if (this.#flights.size > 0) continue;

      // Nothing else is out: the loop's own decision, as without hedging.
      const { verdict } = event;
      if (verdict.decision === "stop") this.#stop = "not-retryable";
      else if (this.#attempts >= this.#kind.retry.maxAttempts) {
        this.#stop = this.#plan.hasNext() ? "attempts" : "exhausted";
      } else if (!this.#plan.hasNext()) this.#stop = "exhausted";
      else {
        // A first attempt that never left is no retry.
        release = this.#attempts > 0 ? this.#deps.runtime.retryBudget.tryRetry() : () => {};
        if (release) next = this.#plan.next();
        else {
          this.#deps.runtime.counters.retriesRefused++;
          this.#deps.runtime.metrics.retryRefused();
          this.#stop = "budget";
        }
      }
      const standing = this.#standing;
      if (next === undefined) {
        if (standing) return this.#answer(standing.result, standing.flight.node.id);
        break;
      }
      this.#standing = undefined;
      if (standing) await this.#kind.discard(standing.result);
      if (verdict.counted) {
        const pause = Math.min(
          backoffMs(this.#attempts, this.#kind.retry, this.#deps.random),
          this.#deadline - this.#deps.now(),
        );
        if (pause > 0) await this.#deps.sleep(pause);
      }
    }
    const response = this.#kind.fail({
      last: this.#last,
      attempts: this.#attempts,
      attempted: this.#attempted,
      stop: this.#stop,
      pastDeadline: this.#deadline <= this.#deps.now(),
    });
    const last = this.#last;
    const cause = last === undefined ? undefined : this.#kind.causeOf?.(last);
    return { response, node: undefined, attempts: this.#attempts, cause };
  }

  /** Starts an attempt at a node; false (with the reason recorded) when it could not start. */
  #launch(nodeId: string, release: (() => void) | undefined): boolean {
    const deps = this.#deps;
    const { runtime } = deps;
    const remaining = this.#deadline - deps.now();
    if (remaining <= 0) {
      release?.();
      this.#stop = "deadline";
      return false;
    }
    const node = runtime.node(nodeId) as MemberNode;
    const panic = runtime.route(this.#chain, deps.now()).selection.panic;
    const end = runtime.begin(node.id);
    const sentAt = deps.now();
    const cancel = new AbortController();
    const pending = this.#kind.run(node, remaining, panic, cancel.signal);
    if (pending === undefined) {
      end(undefined, deps.now());
      release?.();
      this.#stop = "not-retryable";
      return false;
    }
    // An attempt after one that reached a node, or beside one still out, is a retry.
    const retry = this.#attempts > 0 || this.#flights.size > 0;
    this.#attempted.push(node.id);
    this.#launchedAt = sentAt;
    // The callback runs once the attempt settles, by when `flight` below is defined.
    const settled = pending.then((result): Settled<R> => {
      const verdict = this.#kind.judge(result);
      const measured = verdict.measured && !cancel.signal.aborted;
      const took = deps.now() - sentAt;
      end(measured ? took : undefined, deps.now());
      release?.();
      if (verdict.outcome) {
        runtime.metrics.attempt(node.id, verdict.outcome, retry, verdict.failed === true);
      }
      if (verdict.outcome === "response") runtime.metrics.handshake(node.id, took);
      return { flight, result, verdict };
    });
    const flight: Flight<R> = { node, cancel, settled };
    this.#flights.add(flight);
    return true;
  }

  /** The next attempt to settle, or the moment to hedge, whichever comes first. */
  #nextEvent(): Promise<Settled<R> | typeof HEDGE> {
    const settling = [...this.#flights].map((flight) => flight.settled);
    const after = this.#hedgeAfterMs;
    if (after === undefined || !this.#mayHedge()) return Promise.race(settling);
    const wait = Math.max(0, this.#launchedAt + after - this.#deps.now());
    return Promise.race([...settling, this.#deps.sleep(wait).then((): typeof HEDGE => HEDGE)]);
  }

  #mayHedge(): boolean {
    return (
      this.#attempts + this.#flights.size < this.#kind.retry.maxAttempts &&
      this.#deadline > this.#deps.now() &&
      this.#plan.hasNext()
    );
  }

  /** Sends the request to one more node while the slow ones stay out, if the budget has room. */
  #hedge(): void {
    if (!this.#mayHedge()) return;
    const release = this.#deps.runtime.retryBudget.tryRetry();
    if (!release) {
      this.#deps.runtime.counters.retriesRefused++;
      this.#deps.runtime.metrics.retryRefused();
    }
    const next = release && this.#plan.next();
    if (release && next !== undefined && this.#launch(next, release)) {
      this.#deps.runtime.counters.hedges++;
      this.#deps.runtime.metrics.hedge(next);
      return;
    }
    // Refused by the budget, or the body cannot be sent again: no more hedges, the others run on.
    release?.();
    this.#hedgeAfterMs = undefined;
  }

  /**
   * Books a settled attempt. Returns the response when it is the answer: a final one, the others
   * then cancelled. A fallback is set aside as the standing answer, which is let go of once
   * another attempt is made.
   */
  #settle(settled: Settled<R>): Dispatched | undefined {
    const { flight, result, verdict } = settled;
    this.#flights.delete(flight);
    if (verdict.ejectedUntil) {
      this.#deps.runtime.membership.markEjected(flight.node.id, verdict.ejectedUntil);
    }
    if (verdict.counted) this.#attempts++;
    this.#last = result;
    if (verdict.decision === "final") {
      if (this.#standing) void this.#kind.discard(this.#standing.result);
      this.#standing = undefined;
      return this.#answer(result, flight.node.id);
    }
    if (verdict.decision === "fallback") {
      if (this.#standing) void this.#kind.discard(this.#standing.result);
      this.#standing = settled;
    }
    return undefined;
  }

  /** The answer, with every attempt still out cancelled and its result let go of. */
  #answer(result: R, nodeId: string): Dispatched {
    const outstanding = [...this.#flights];
    this.#flights.clear();
    for (const flight of outstanding) {
      flight.cancel.abort();
      void flight.settled.then((late) => this.#kind.discard(late.result)).catch(() => {});
    }
    const attempts = this.#attempts + outstanding.length;
    const response = this.#kind.answer(result, nodeId, attempts);
    return { response, node: nodeId, attempts, cause: this.#kind.causeOf?.(result) };
  }
}
