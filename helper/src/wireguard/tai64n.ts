// TAI64N timestamps for handshake initiations (whitepaper §5.4.2): a responder only accepts an
// initiation whose timestamp is greater than the last one it accepted from that peer, which makes a
// replayed initiation useless. Only the order matters, so the wall clock is the caller's.

/** 2^62 + 10: the TAI64 label of the Unix epoch, reckoning TAI 10 s ahead of UTC as libtai does. */
const TAI64_BASE = 0x400000000000000an;
/** wireguard-go clears the low 24 bits of the nanoseconds (~16.8 ms) so a timestamp leaks no fine timing. */
const WHITENER_MASK = 0xffffff;

/** The 12-byte timestamp of a Unix time; `nanosWithinMs` (0-999999) refines a whole millisecond. */
export function tai64n(unixMs: number, nanosWithinMs = 0): Buffer {
  if (!Number.isInteger(nanosWithinMs) || nanosWithinMs < 0 || nanosWithinMs >= 1_000_000) {
    throw new RangeError(`${nanosWithinMs} is not a count of nanoseconds within a millisecond`);
  }
  const ms = Math.floor(unixMs);
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000 + nanosWithinMs;
  const out = Buffer.alloc(12);
  out.writeBigUInt64BE(TAI64_BASE + BigInt(seconds), 0);
  out.writeUInt32BE(nanos - (nanos & WHITENER_MASK), 8);
  return out;
}

/** a > b as 12-byte big-endian numbers: a is a strictly later timestamp. */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) > 0;
}
