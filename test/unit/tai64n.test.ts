import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tai64n, tai64nAfter } from '../../helper/src/wireguard/tai64n.ts';

test('the handshake vector timestamp is unix second 0x6553f100', () => {
  assert.equal(tai64n(0x6553f100 * 1000).toString('hex'), '400000006553f10a00000000');
  assert.equal(tai64n(0).toString('hex'), '400000000000000a00000000');
});

test('nanoseconds keep only their high 8 bits', () => {
  // 123 ms = 0x0754d4c0 ns; 999.999999 ms = 0x3b9ac9ff ns.
  assert.equal(tai64n(1_700_000_000_123).toString('hex'), '400000006553f10a07000000');
  assert.equal(tai64n(1_700_000_000_999, 999_999).toString('hex'), '400000006553f10a3b000000');
  // 16 ms is still inside the first 2^24 ns.
  assert.deepEqual(tai64n(1_700_000_000_016), tai64n(1_700_000_000_000));
  assert.notDeepEqual(tai64n(1_700_000_000_017), tai64n(1_700_000_000_000));
});

test('sub-millisecond fractions and bad nanosecond counts', () => {
  assert.deepEqual(tai64n(1_700_000_000_123.9), tai64n(1_700_000_000_123));
  assert.throws(() => tai64n(0, 1_000_000), RangeError);
  assert.throws(() => tai64n(0, -1), RangeError);
  assert.throws(() => tai64n(0, 0.5), RangeError);
});

test('later times are after earlier ones, never before', () => {
  let previous = tai64n(1_699_999_998_000);
  let increases = 0;
  for (let ms = 1_699_999_998_001; ms <= 1_700_000_002_000; ms += 7) {
    const stamp = tai64n(ms);
    assert.equal(tai64nAfter(previous, stamp), false, `${ms}`);
    if (tai64nAfter(stamp, previous)) increases++;
    previous = stamp;
  }
  // 4 s in steps of 7 ms cross about 60 whitened steps per second.
  assert.ok(increases > 200, `${increases}`);
});

test('tai64nAfter is a strict big-endian comparison', () => {
  const a = Buffer.from('400000006553f10a3b000000', 'hex');
  const b = Buffer.from('400000006553f10b00000000', 'hex');
  assert.equal(tai64nAfter(b, a), true);
  assert.equal(tai64nAfter(a, b), false);
  assert.equal(tai64nAfter(a, Buffer.from(a)), false);
  assert.equal(tai64nAfter(a, new Uint8Array(12)), true);
});
