// WireGuard keys as base64 text, exactly as `wg` reads and writes them. Pure code (no Buffer, and not
// atob, which accepts missing padding, white space and stray bits) because the renderer imports it too.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export const KEY_LEN = 32;

/**
 * Decodes padded standard base64; null unless the text is canonical (the unused low bits of the last
 * character must be zero, as `wg` requires), so a key has exactly one accepted spelling.
 */
export function decodeBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length - pad; i++) {
    const value = ALPHABET.indexOf(text[i]);
    if (value === -1) return null;
    acc = ((acc << 6) | value) & 0x3fff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

/** The 32 key bytes of 44-character base64 text, or null. */
export function decodeKey(text: string): Uint8Array | null {
  const bytes = decodeBase64(text);
  return bytes && bytes.length === KEY_LEN ? bytes : null;
}

export function encodeKey(bytes: Uint8Array): string {
  if (bytes.length !== KEY_LEN) throw new RangeError(`a key is ${KEY_LEN} bytes, got ${bytes.length}`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, bytes.length - i + 1);
    for (let c = 0; c < 4; c++) out += c < chars ? ALPHABET[(chunk >> (18 - 6 * c)) & 63] : '=';
  }
  return out;
}
