// The per-id handshake rules of protocol.md ("Ack: the handshake"), judged over frames received.
import type { Frame } from "../../src/transport/frame.ts";
import { ERROR_CODES } from "../../src/transport/protocol.ts";

type State = "acked" | "answered" | "rejected";

/**
 * Every breach of the handshake in a stream's received frames: a second ack, a result or
 * function-failed error before the ack, a rejection after the ack, a second terminal frame.
 * `sent` limits the judgement to ids the suite invoked; frames for other ids are reported too.
 */
export function handshakeViolations(
  frames: readonly Frame[],
  sent?: ReadonlySet<number>,
): string[] {
  const states = new Map<number, State>();
  const problems: string[] = [];
  for (const frame of frames) {
    if (frame.kind !== "ack" && frame.kind !== "result" && frame.kind !== "error") continue;
    const { id } = frame;
    if (sent && !sent.has(id)) {
      problems.push(`${frame.kind} for id ${id}, which was never invoked on this stream`);
      continue;
    }
    const state = states.get(id);
    if (frame.kind === "ack") {
      if (state === undefined) states.set(id, "acked");
      else problems.push(`ack for id ${id} after ${state === "acked" ? "its ack" : "its answer"}`);
    } else if (frame.kind === "error" && frame.code === ERROR_CODES.rejected) {
      if (state === undefined) states.set(id, "rejected");
      else problems.push(`rejection (error code 2) for id ${id} after its ${stateWord(state)}`);
    } else if (state === "acked") {
      states.set(id, "answered");
    } else if (state === undefined) {
      problems.push(`${frame.kind} for id ${id} before its ack`);
      states.set(id, "answered");
    } else {
      problems.push(
        `second terminal frame (${frame.kind}) for id ${id} after its ${stateWord(state)}`,
      );
    }
  }
  return problems;
}

/** Ids acked whose answer has not arrived. */
export function awaitingAnswer(frames: readonly Frame[]): number[] {
  const acked = new Set<number>();
  for (const frame of frames) {
    if (frame.kind === "ack") acked.add(frame.id);
    else if (frame.kind === "result" || frame.kind === "error") acked.delete(frame.id);
  }
  return [...acked];
}

function stateWord(state: State): string {
  return state === "acked" ? "ack" : state === "answered" ? "answer" : "rejection";
}
