/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-16 code units. Written here rather than taken from
 * WebCrypto because a ring lookup runs on every request and must be synchronous and cheap; it
 * needs spread, not resistance to an adversary, since a client that picks its own key can already
 * pick its node.
 */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  const length = text.length;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    // Two UTF-16 code units make one 32-bit block.
    h = mixBlock(h, (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16));
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  if (i < length) h = mixBlock(h, text.charCodeAt(i) & 0xffff);
  h ^= length * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixBlock(h: number, block: number): number {
  let k = Math.imul(block, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  return h ^ k;
}
