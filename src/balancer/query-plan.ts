/**
 * The order in which one dispatch tries nodes. It starts at the node its rotation position names
 * and walks the rotation from there, skipping every node this dispatch has already tried.
 *
 * Membership is read afresh at every step, because nodes may be ejected, removed or added while a
 * dispatch is retrying. Exhaustion is therefore decided from the tried-set against the membership
 * of the moment ("is any routable node untried?"), never by coming back to a starting index, which
 * goes wrong as soon as the array it indexes changes underneath.
 */
export class QueryPlan {
  private readonly tried = new Set<string>();
  private readonly schedule: () => readonly string[];
  private cursor: number;

  /**
   * @param position rotation position leased for this dispatch
   * @param schedule returns the current rotation round (node ids, repeated by weight) of routable nodes
   */
  constructor(position: number, schedule: () => readonly string[]) {
    this.schedule = schedule;
    this.cursor = position - 1;
  }

  /** Node ids tried so far, in order. */
  get triedNodes(): string[] {
    return [...this.tried];
  }

  /** Marks a node tried without dispatching to it (for example, its gate refused it). */
  markTried(id: string): void {
    this.tried.add(id);
  }

  /** Whether some routable node is still untried. */
  hasNext(): boolean {
    return this.schedule().some((id) => !this.tried.has(id));
  }

  /** The next untried routable node, or undefined when every routable node has been tried. */
  next(): string | undefined {
    const round = this.schedule();
    const length = round.length;
    for (let step = 1; step <= length; step++) {
      const index = mod(this.cursor + step, length);
      const id = round[index] as string;
      if (!this.tried.has(id)) {
        this.cursor += step;
        this.tried.add(id);
        return id;
      }
    }
    return undefined;
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
