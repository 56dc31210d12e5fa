/** Lifecycle of one socket generation of a node stream. */
export type LinkState = "connecting" | "open" | "draining" | "closed";

const NEXT: Readonly<Record<LinkState, readonly LinkState[]>> = {
  connecting: ["open", "closed"],
  open: ["draining", "closed"],
  draining: ["closed"],
  closed: [],
};

/** Whether a link may move from `from` to `to`; closed is final. */
export function canMove(from: LinkState, to: LinkState): boolean {
  return NEXT[from].includes(to);
}

/** States in which the socket is live: frames may be read and heartbeats written. */
export function isLive(state: LinkState): boolean {
  return state === "open" || state === "draining";
}
