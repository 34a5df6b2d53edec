// The AllowedIPs overlap check that decides whether two tunnels may be up together.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPrefix, maskedPrefix, parsePrefix, type IpPrefix } from '../../shared/src/ip.ts';
import { findOverlap } from '../../helper/src/service/route-clash.ts';

const prefixes = (...texts: string[]): IpPrefix[] => texts.map((text) => parsePrefix(text)!);
const overlap = (a: string[], b: string[]) => findOverlap(prefixes(...a), prefixes(...b))?.map(formatPrefix);

test('nested, equal and disjoint prefixes; each side named in its place; families apart', () => {
  assert.deepEqual(overlap(['10.0.0.0/8'], ['10.1.2.0/24']), ['10.0.0.0/8', '10.1.2.0/24']);
  assert.deepEqual(overlap(['10.1.2.0/24'], ['10.0.0.0/8']), ['10.1.2.0/24', '10.0.0.0/8']);
  assert.deepEqual(overlap(['192.0.2.0/24'], ['192.0.2.0/24']), ['192.0.2.0/24', '192.0.2.0/24']);
  assert.equal(overlap(['192.0.2.0/25'], ['192.0.2.128/25']), undefined);
  assert.equal(overlap(['0.0.0.0/0'], ['::/0']), undefined, 'IPv4 and IPv6 never overlap');
  assert.deepEqual(overlap(['fd00::/8'], ['2001:db8::/32', 'fd00:1::1/128']), ['fd00::/8', 'fd00:1::1/128']);
  assert.deepEqual(overlap(['0.0.0.0/1', '128.0.0.0/1'], ['203.0.113.7/32']), [
    '128.0.0.0/1',
    '203.0.113.7/32',
  ]);
  assert.equal(overlap([], ['0.0.0.0/0']), undefined);
  // Many of one side before the other's: the furthest end is what counts, not the last seen.
  assert.deepEqual(overlap(['10.0.0.0/8', '10.0.0.0/24', '10.0.1.0/24'], ['10.200.0.0/16']), [
    '10.0.0.0/8',
    '10.200.0.0/16',
  ]);
});

test('agrees with comparing every pair, on random prefixes', () => {
  const random = (): IpPrefix => {
    const bits = Math.floor(Math.random() * 33);
    const address = Array.from({ length: 4 }, () => Math.floor(Math.random() * 4) * 64).join('.');
    return parsePrefix(`${address}/${bits}`)!;
  };
  const contains = (outer: IpPrefix, inner: IpPrefix) =>
    outer.bits <= inner.bits &&
    maskedPrefix({ ...inner, bits: outer.bits }).address === maskedPrefix(outer).address;
  for (let round = 0; round < 500; round++) {
    const a = Array.from({ length: 1 + Math.floor(Math.random() * 4) }, random);
    const b = Array.from({ length: 1 + Math.floor(Math.random() * 4) }, random);
    const expected = a.some((x) => b.some((y) => contains(x, y) || contains(y, x)));
    const found = findOverlap(a, b);
    assert.equal(found !== null, expected, `${a.map(formatPrefix)} vs ${b.map(formatPrefix)}`);
    if (found) assert.ok(contains(found[0], found[1]) || contains(found[1], found[0]));
  }
});

// The all-pairs check this replaced froze the helper for minutes on these; the timeout catches a
// return to that, the speed itself is not what is tested.
test('two tunnels of 16,384 prefixes each are compared without freezing', { timeout: 60_000 }, () => {
  const many = (second: number) =>
    Array.from({ length: 16_384 }, (_, i) => parsePrefix(`10.${second}.${i >> 6}.${(i & 63) * 4}/30`)!);
  assert.equal(findOverlap(many(1), many(2)), null);
  assert.ok(findOverlap(many(1), [...many(2), parsePrefix('10.1.200.0/24')!]));
});
