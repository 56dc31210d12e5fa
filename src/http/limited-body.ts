/** A body read whole within a byte limit, or the fact that it was longer. */
export type LimitedRead =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: string };

/**
 * Reads a body while counting its bytes and stops (cancelling the rest) as soon as it passes
 * `maxBytes`, so an answer from the network is never held in memory beyond the limit, whatever
 * its Content-Length claims.
 */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<LimitedRead> {
  if (body === null) return { ok: true, bytes: new Uint8Array() };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return { ok: false, reason: `longer than ${maxBytes} bytes` };
    }
    chunks.push(value);
  }
  return { ok: true, bytes: concatBytes(chunks, size) };
}

/** `chunks` as one array of `size` bytes (the chunk itself when there is only one). */
export function concatBytes<T extends ArrayBufferLike>(
  chunks: readonly Uint8Array<T>[],
  size: number,
): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
