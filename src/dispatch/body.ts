import { concatBytes } from "../http/limited-body.ts";

/** What one attempt sends as its body: bytes kept for retries, a stream sent once, or nothing. */
export type AttemptBody = Uint8Array | ReadableStream<Uint8Array> | null;

/** A request body the dispatch can send once, or again on retry. */
export interface OutgoingBody {
  /** A body for the next attempt; undefined once a one-shot body has been handed out. */
  take(): AttemptBody | undefined;
  /** Whether every attempt can carry the full body. */
  readonly replayable: boolean;
}

/**
 * Buffers the body up to `limit` bytes so that a retry can send it again. A body over the limit
 * streams through untouched (what was read is put back in front of the rest) and the dispatch will
 * not retry it, because it cannot.
 */
export async function prepareBody(request: Request, limit: number): Promise<OutgoingBody> {
  if (request.body === null) return { take: () => null, replayable: true };
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) return oneShot(request.body);

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) return oneShot(prepend(chunks, reader));
  }
  const buffer = concatBytes(chunks, size);
  return { take: () => buffer, replayable: true };
}

function oneShot(stream: ReadableStream<Uint8Array>): OutgoingBody {
  let pending: ReadableStream<Uint8Array> | undefined = stream;
  return {
    replayable: false,
    take() {
      const body = pending;
      pending = undefined;
      return body;
    },
  };
}

function prepend(
  head: Uint8Array[],
  rest: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = head.shift();
      if (next) {
        controller.enqueue(next);
        return;
      }
      return rest.read().then(({ done, value }) => {
        if (done) controller.close();
        else controller.enqueue(value);
      });
    },
    cancel(reason) {
      return rest.cancel(reason);
    },
  });
}
