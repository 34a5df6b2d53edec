import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../helper/src/wireguard/ratelimiter.ts';

// The table of wireguard-go's ratelimiter_test.go and the kernel's selftest/ratelimiter.c, on a fake
// clock: [allowed, ms to wait before the packet].
const expected: Array<[boolean, number, string]> = [
  [true, 0, 'initial burst 1'],
  [true, 0, 'initial burst 2'],
  [true, 0, 'initial burst 3'],
  [true, 0, 'initial burst 4'],
  [true, 0, 'initial burst 5'],
  [false, 0, 'after burst'],
  [true, 50, 'filling tokens for a single packet'],
  [false, 0, 'not having refilled enough'],
  [true, 100, 'filling tokens for a two packet burst'],
  [true, 0, 'second packet of the two packet burst'],
  [false, 0, 'packet following the two packet burst'],
];

const sources = [
  '127.0.0.1',
  '192.168.1.1',
  '172.167.2.3',
  '97.231.252.215',
  '248.97.91.167',
  '188.208.233.47',
  '104.2.183.179',
  '72.129.46.120',
  '2001:db8:a0b:12f0::1',
  'f5c2:818f:c052:655a:9860:b136:6894:25f0',
  'b2d7:15ab:48a7:b07c:a541:f144:a9fe:54fc',
  'a47b:786e:1671:a22b:d6f9:4ab0:abc7:c918',
  'ea1e:d155:7f7a:98fb:2bf5:9483:80f6:5445',
  '3f0e:54a2:f5b4:cd19:a21d:58e1:3746:84c4',
];

test('wireguard-go ratelimiter table, every source on its own bucket', () => {
  const limiter = new RateLimiter();
  let now = 5_000;
  for (const [allowed, wait, text] of expected) {
    now += wait;
    for (const source of sources) assert.equal(limiter.allow(source, now), allowed, `${text}: ${source}`);
  }
});

test('a steady 20 packets a second is allowed, a faster stream is held to it', () => {
  const limiter = new RateLimiter();
  let allowed = 0;
  for (let now = 0; now < 10_000; now += 50) if (limiter.allow('a', now)) allowed++;
  assert.equal(allowed, 200);
  allowed = 0;
  for (let now = 20_000; now < 30_000; now += 10) if (limiter.allow('b', now)) allowed++;
  // The first 5 are the burst, then one per 50 ms.
  assert.equal(allowed, 5 + 199);
});

test('idle buckets are forgotten after a second, without changing any answer', () => {
  const limiter = new RateLimiter();
  for (const source of sources) limiter.allow(source, 0);
  assert.equal(limiter.size, sources.length);
  for (let i = 0; i < 6; i++) limiter.allow('busy', 900);
  assert.equal(limiter.size, sources.length + 1);
  // Not idle for more than a second yet.
  limiter.allow('busy', 1_000);
  assert.equal(limiter.size, sources.length + 1);
  limiter.allow('busy', 2_001);
  assert.equal(limiter.size, 1);
  // A forgotten source starts over with a full bucket: a burst of 5.
  const burst = Array.from({ length: 6 }, () => limiter.allow(sources[0], 2_001));
  assert.deepEqual(burst, [true, true, true, true, true, false]);
});
