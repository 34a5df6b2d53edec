// Whether two tunnels' AllowedIPs overlap, in O(n log n): a group member may import tunnels with
// tens of thousands of prefixes, and comparing every pair (what this replaced) froze the helper's
// event loop, data path and control API included, for minutes.

import { parseIp, type IpPrefix } from '../../../shared/src/ip.ts';

interface Interval {
  start: bigint;
  end: bigint;
  side: 0 | 1;
  prefix: IpPrefix;
}

function interval(prefix: IpPrefix, side: 0 | 1): Interval {
  const bytes = parseIp(prefix.address)!;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  const hostBits = BigInt(bytes.length * 8 - prefix.bits);
  const start = (value >> hostBits) << hostBits;
  return { start, end: start + (1n << hostBits) - 1n, side, prefix };
}

/**
 * A prefix of `mine` and one of `theirs` that share an address, or null. Sorted by start, an interval
 * overlaps one of the other side seen before it exactly when that side's furthest end reaches it.
 */
export function findOverlap(
  mine: readonly IpPrefix[],
  theirs: readonly IpPrefix[],
): [IpPrefix, IpPrefix] | null {
  for (const family of [4, 6] as const) {
    const intervals = [
      ...mine.filter((p) => p.family === family).map((p) => interval(p, 0)),
      ...theirs.filter((p) => p.family === family).map((p) => interval(p, 1)),
    ].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const furthest: [Interval | null, Interval | null] = [null, null];
    for (const current of intervals) {
      const other = furthest[current.side === 0 ? 1 : 0];
      if (other && other.end >= current.start)
        return current.side === 0 ? [current.prefix, other.prefix] : [other.prefix, current.prefix];
      const mineSoFar = furthest[current.side];
      if (!mineSoFar || current.end > mineSoFar.end) furthest[current.side] = current;
    }
  }
  return null;
}
