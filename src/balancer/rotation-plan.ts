import type { NodePlan } from "./node-plan.ts";

/**
 * The order in which one dispatch tries nodes. It starts at the node its rotation position names
 * and walks the rotation from there, skipping every node this dispatch has already tried.
 *
 * Membership is read afresh at every step, because nodes may be ejected, removed or added while a
 * dispatch is retrying. Exhaustion is therefore decided from the tried-set against the membership
 * of the moment ("is any routable node untried?"), never by coming back to a starting index, which
 * goes wrong as soon as the array it indexes changes underneath.
 */
export class RotationPlan implements NodePlan {
  readonly #tried = new Set<string>();
  readonly #schedule: (tried: ReadonlySet<string>) => readonly string[];
  readonly #admitFirst: ((id: string) => boolean) | undefined;
  #cursor: number;

  /**
   * @param position rotation position leased for this dispatch
   * @param schedule returns the current rotation round (node ids, repeated by weight) of routable
   *   nodes; given the tried-set, so it may move on to a farther scope once the nearest is spent
   * @param admitFirst may decline a node as the first choice (slow start); retries ignore it, and
   *   if it declines every node the first untried one is taken anyway
   */
  constructor(
    position: number,
    schedule: (tried: ReadonlySet<string>) => readonly string[],
    admitFirst?: (id: string) => boolean,
  ) {
    this.#schedule = schedule;
    this.#admitFirst = admitFirst;
    this.#cursor = position - 1;
  }

  /** Node ids tried so far, in order. */
  get triedNodes(): string[] {
    return [...this.#tried];
  }

  /** Whether some routable node is still untried. */
  hasNext(): boolean {
    return this.#schedule(this.#tried).some((id) => !this.#tried.has(id));
  }

  exclude(id: string): void {
    this.#tried.add(id);
  }

  /** The next untried routable node, or undefined when every routable node has been tried. */
  next(): string | undefined {
    const round = this.#schedule(this.#tried);
    const admit = this.#tried.size === 0 ? this.#admitFirst : undefined;
    let fallback: number | undefined;
    for (let step = 1; step <= round.length; step++) {
      const id = round[mod(this.#cursor + step, round.length)] as string;
      if (this.#tried.has(id)) continue;
      fallback ??= step;
      if (!admit || admit(id)) return this.#take(id, step);
    }
    return fallback === undefined
      ? undefined
      : this.#take(round[mod(this.#cursor + fallback, round.length)] as string, fallback);
  }

  #take(id: string, step: number): string {
    this.#cursor += step;
    this.#tried.add(id);
    return id;
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
