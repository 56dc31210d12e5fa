const encoder = new TextEncoder();

/** UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(data: string | Uint8Array): Uint8Array<ArrayBuffer> {
  // WebCrypto's types want an ArrayBuffer-backed view, which neither input type promises; the
  // copy also detaches us from the caller's buffer.
  return new Uint8Array(typeof data === "string" ? encoder.encode(data) : data);
}

/** Lower-case hex SHA-256 of a string's UTF-8 bytes or of raw bytes. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", toBytes(data))));
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** Bytes of an even-length hex string; undefined when it is not hex. */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
