/**
 * Resolves once workerd has closed the connection of a request given up on: one that timed out,
 * failed, or whose answer was left unread. Aborting a `fetch` does close its connection, but not
 * in the turn that rejects the `fetch`: the close is carried out by tasks workerd queues behind
 * that turn. A caller that freed its connection slot at once could open the next request while
 * the last one is still open at the other end, which then holds one more than the caller's bound
 * (docs/architecture.md, "The bound as the peers see it"). Waiting two timer turns lets those
 * tasks run first: measured against a hung server with both cores busy, no request was left open
 * behind a slot freed after them (one turn left one, rarely). The cost is the two turns, and only
 * for a request given up on.
 */
export async function tornDown(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
}
