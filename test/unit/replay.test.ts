import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayFilter, WINDOW_SIZE } from '../../helper/src/wireguard/replay.ts';
import { REJECT_AFTER_MESSAGES } from '../../helper/src/wireguard/constants.ts';

const W = BigInt(WINDOW_SIZE);
const T_LIM = W + 1n;
const R = REJECT_AFTER_MESSAGES;

function check(filter: ReplayFilter, counter: bigint, expected: boolean, label: string): void {
  assert.equal(filter.validateCounter(counter, R), expected, `${label}: counter ${counter}`);
}

test('window is 8128 counters, limit is 2^64 - 2^13 - 1', () => {
  assert.equal(WINDOW_SIZE, 8128);
  assert.equal(R, 2n ** 64n - 2n ** 13n - 1n);
});

// The table of the kernel's selftest/counter.c, also wireguard-go's replay_test.go.
test('kernel counter table', () => {
  const table: Array<[bigint, boolean]> = [
    [0n, true], //  1
    [1n, true], //  2
    [1n, false], //  3
    [9n, true], //  4
    [8n, true], //  5
    [7n, true], //  6
    [7n, false], //  7
    [T_LIM, true], //  8
    [T_LIM - 1n, true], //  9
    [T_LIM - 1n, false], // 10
    [T_LIM - 2n, true], // 11
    [2n, true], // 12
    [2n, false], // 13
    [T_LIM + 16n, true], // 14
    [3n, false], // 15
    [T_LIM + 16n, false], // 16
    [T_LIM * 4n, true], // 17
    [T_LIM * 4n - (T_LIM - 1n), true], // 18
    [10n, false], // 19
    [T_LIM * 4n - T_LIM, false], // 20
    [T_LIM * 4n - (T_LIM + 1n), false], // 21
    [T_LIM * 4n - (T_LIM - 2n), true], // 22
    [T_LIM * 4n + 1n - T_LIM, false], // 23
    [0n, false], // 24
    [R, false], // 25
    [R - 1n, true], // 26
    [R, false], // 27
    [R - 1n, false], // 28
    [R - 2n, true], // 29
    [R + 1n, false], // 30
    [R + 2n, false], // 31
    [R - 2n, false], // 32
    [R - 3n, true], // 33
    [0n, false], // 34
  ];
  const filter = new ReplayFilter();
  table.forEach(([counter, expected], i) => check(filter, counter, expected, `case ${i + 1}`));
});

function range(from: bigint, to: bigint): bigint[] {
  const out: bigint[] = [];
  if (from <= to) for (let i = from; i <= to; i++) out.push(i);
  else for (let i = from; i >= to; i--) out.push(i);
  return out;
}

// The window-edge loops: the kernel's, then wireguard-go's where its loop bounds differ.
function bulk(name: string, accepted: bigint[], ...then: Array<[bigint, boolean]>): void {
  test(`bulk ${name}`, () => {
    const filter = new ReplayFilter();
    for (const counter of accepted) check(filter, counter, true, name);
    for (const [counter, expected] of then) check(filter, counter, expected, name);
  });
}

bulk('kernel 1', range(1n, W), [0n, true], [0n, false]);
bulk('kernel 2', range(2n, W + 1n), [1n, true], [0n, false]);
bulk('kernel 3', range(W, 0n));
bulk('kernel 4', range(W + 1n, 1n), [0n, false]);
bulk('kernel 5', range(W, 1n), [W + 1n, true], [0n, false]);
bulk('kernel 6', range(W, 1n), [0n, true], [W + 1n, true]);
bulk('wireguard-go 3', range(W + 1n, 1n));
bulk('wireguard-go 4', range(W + 2n, 2n), [0n, false]);

test('reset forgets every counter', () => {
  const filter = new ReplayFilter();
  for (const counter of [0n, 1n, 100n, W + 50n]) check(filter, counter, true, 'before reset');
  check(filter, 0n, false, 'too old before reset');
  filter.reset();
  for (const counter of [0n, 1n, 100n]) check(filter, counter, true, 'after reset');
});

test('a jump of a whole ring or more clears every block', () => {
  const filter = new ReplayFilter();
  for (let i = 0n; i < 8192n; i += 7n) check(filter, i, true, 'fill');
  const far = 8192n * 3n + 5n;
  check(filter, far, true, 'jump');
  for (let i = far - W; i < far; i += 7n) check(filter, i, true, 'below the jump');
});

// wireguard-go's algorithm transcribed with BigInt only: the oracle for the Number fast path.
class ReferenceFilter {
  last = 0n;
  ring = new Array<bigint>(128).fill(0n);
  validate(counter: bigint, limit: bigint): boolean {
    if (counter >= limit) return false;
    const block = counter >> 6n;
    if (counter > this.last) {
      const current = this.last >> 6n;
      const diff = block - current < 128n ? block - current : 128n;
      for (let i = 1n; i <= diff; i++) this.ring[Number((current + i) % 128n)] = 0n;
      this.last = counter;
    } else if (this.last - counter > W) {
      return false;
    }
    const index = Number(block % 128n);
    const old = this.ring[index];
    this.ring[index] = old | (1n << (counter & 63n));
    return old !== this.ring[index];
  }
}

// mulberry32, seeded, so that a failure reproduces.
let seed = 0x6479;
function randomBelow(n: number): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return Math.floor((((x ^ (x >>> 14)) >>> 0) / 2 ** 32) * n);
}

// Each run moves ahead by some millions of counters, so the last two cross 2^53 and the limit.
for (const [name, start, crossing] of [
  ['near 0', 0n, 0n],
  ['across 2^53', BigInt(Number.MAX_SAFE_INTEGER) - 1_000_000n, BigInt(Number.MAX_SAFE_INTEGER)],
  ['across the limit', R - 3_000_000n, R],
] as const) {
  test(`random traffic ${name} agrees with the BigInt reference`, () => {
    const filter = new ReplayFilter();
    const reference = new ReferenceFilter();
    let next = start;
    let disagreements = 0;
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly in order, with reordering inside and beyond the window, duplicates and jumps.
      const roll = randomBelow(100);
      let counter: bigint;
      if (roll < 60) counter = next++;
      else if (roll < 80) counter = next - BigInt(randomBelow(WINDOW_SIZE + 200));
      else if (roll < 90) counter = next - BigInt(randomBelow(64));
      else counter = next += BigInt(randomBelow(roll < 98 ? 300 : 20_000));
      if (counter < 0n) counter = 0n;
      const got = filter.validateCounter(counter, R);
      if (got !== reference.validate(counter, R)) disagreements++;
      if (got) accepted++;
    }
    assert.equal(disagreements, 0);
    assert.ok(accepted > 5_000, `only ${accepted} accepted`);
    assert.ok(next > crossing, `stopped at ${next}`);
  });
}
