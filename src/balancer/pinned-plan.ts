import type { NodePlan } from "./node-plan.ts";

/**
 * A plan that tries one given node first (the node a session's affinity names) and then goes on
 * by the service's own plan, which counts that node as tried. The caller pins only a node that is
 * routable now and under its bounded load (`underBoundedLoad`); one that is not is simply not
 * pinned, so the request goes where the service's plan sends it.
 */
export class PinnedPlan implements NodePlan {
  readonly #pinned: string;
  readonly #rest: NodePlan;
  #started = false;

  constructor(pinned: string, rest: NodePlan) {
    this.#pinned = pinned;
    this.#rest = rest;
    rest.exclude(pinned);
  }

  get triedNodes(): string[] {
    const tried = this.#rest.triedNodes;
    return this.#started ? tried : tried.filter((id) => id !== this.#pinned);
  }

  hasNext(): boolean {
    return !this.#started || this.#rest.hasNext();
  }

  exclude(id: string): void {
    this.#rest.exclude(id);
  }

  next(): string | undefined {
    if (this.#started) return this.#rest.next();
    this.#started = true;
    return this.#pinned;
  }
}
