// TAI64N timestamps for handshake initiations (whitepaper §5.4.2). Responders only accept an
// initiation newer than the last one from the same peer, which defeats replayed initiations.

const TAI64_BASE = 0x400000000000000an;
/** wireguard-go drops the low 24 bits of the nanoseconds so the timestamp leaks no fine timing. */
const WHITENER_MASK = 0xffffff;

export function tai64n(unixMs: number, nanosWithinMs = 0): Buffer {
  const seconds = Math.floor(unixMs / 1000);
  const nanos = (unixMs - seconds * 1000) * 1_000_000 + nanosWithinMs;
  const out = Buffer.alloc(12);
  out.writeBigUInt64BE(TAI64_BASE + BigInt(seconds), 0);
  out.writeUInt32BE((Math.floor(nanos) & ~WHITENER_MASK) >>> 0, 8);
  return out;
}

/** a > b, comparing the 12 bytes as one big-endian number. */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) > 0;
}
