import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedIps } from '../../helper/src/wireguard/allowed-ips.ts';

interface Peer {
  name: string;
}

const peer = (name: string): Peer => ({ name });

function ip4(a: number, b: number, c: number, d: number): Uint8Array {
  return Uint8Array.of(a, b, c, d);
}

function ip6(a: number, b: number, c: number, d: number): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  [a, b, c, d].forEach((word, i) => view.setUint32(i * 4, word));
  return out;
}

/** White-box: both tries are empty, not merely without values. */
function isEmpty(table: AllowedIps<unknown>): boolean {
  return (table as unknown as { trie: { isEmpty(): boolean } }).trie.isEmpty();
}

// The static table of the kernel's selftest/allowedips.c (also wireguard-go's allowedips_test.go).
test('kernel allowedips table', () => {
  const [a, b, c, d, e, f, g, h] = 'abcdefgh'.split('').map(peer);
  const t = new AllowedIps<Peer>();
  t.insert(ip4(192, 168, 4, 0), 24, a);
  t.insert(ip4(192, 168, 4, 4), 32, b);
  t.insert(ip4(192, 168, 0, 0), 16, c);
  t.insert(ip4(192, 95, 5, 64), 27, d);
  // Replaces the previous entry, and the host bits must be masked off to see it.
  t.insert(ip4(192, 95, 5, 65), 27, c);
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, d);
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0), 64, c);
  t.insert(ip4(0, 0, 0, 0), 0, e);
  t.insert(ip6(0, 0, 0, 0), 0, e);
  t.insert(ip6(0, 0, 0, 0), 0, f);
  t.insert(ip6(0x24046800, 0, 0, 0), 32, g);
  t.insert(ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 64, h);
  t.insert(ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 128, a);
  t.insert(ip6(0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef), 128, c);
  t.insert(ip6(0x24446800, 0xf0e40800, 0xeeaebeef, 0), 98, b);
  t.insert(ip4(64, 15, 112, 0), 20, g);
  t.insert(ip4(64, 15, 123, 211), 25, h);
  t.insert(ip4(10, 0, 0, 0), 25, a);
  t.insert(ip4(10, 0, 0, 128), 25, b);
  t.insert(ip4(10, 1, 0, 0), 30, a);
  t.insert(ip4(10, 1, 0, 4), 30, b);
  t.insert(ip4(10, 1, 0, 8), 29, c);
  t.insert(ip4(10, 1, 0, 16), 29, d);

  const expected: Array<[Uint8Array, Peer]> = [
    [ip4(192, 168, 4, 20), a],
    [ip4(192, 168, 4, 0), a],
    [ip4(192, 168, 4, 4), b],
    [ip4(192, 168, 200, 182), c],
    [ip4(192, 95, 5, 68), c],
    [ip4(192, 95, 5, 96), e],
    [ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), d],
    [ip6(0x26075300, 0x60006b00, 0, 0xc02e01ee), c],
    [ip6(0x26075300, 0x60006b01, 0, 0), f],
    [ip6(0x24046800, 0x40040806, 0, 0x1006), g],
    [ip6(0x24046800, 0x40040806, 0x1234, 0x5678), g],
    [ip6(0x240467ff, 0x40040806, 0x1234, 0x5678), f],
    [ip6(0x24046801, 0x40040806, 0x1234, 0x5678), f],
    [ip6(0x24046800, 0x40040800, 0x1234, 0x5678), h],
    [ip6(0x24046800, 0x40040800, 0, 0), h],
    [ip6(0x24046800, 0x40040800, 0x10101010, 0x10101010), h],
    [ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), a],
    [ip4(64, 15, 116, 26), g],
    [ip4(64, 15, 127, 3), g],
    [ip4(64, 15, 123, 1), g],
    [ip4(64, 15, 123, 128), h],
    [ip4(64, 15, 123, 129), h],
    [ip4(10, 0, 0, 52), a],
    [ip4(10, 0, 0, 220), b],
    [ip4(10, 1, 0, 2), a],
    [ip4(10, 1, 0, 6), b],
    [ip4(10, 1, 0, 10), c],
    [ip4(10, 1, 0, 20), d],
  ];
  expected.forEach(([ip, owner], i) => assert.equal(t.lookup(ip), owner, `lookup ${i + 1}`));

  for (const first of [1, 64, 128, 192, 255]) t.insert(ip4(first, 0, 0, 0), 32, a);
  for (const first of [1, 64, 128, 192, 255]) assert.equal(t.lookup(ip4(first, 0, 0, 0)), a);
  t.removeByValue(a);
  for (const first of [1, 64, 128, 192, 255]) assert.notEqual(t.lookup(ip4(first, 0, 0, 0)), a);
  assert.equal(t.lookup(ip4(10, 0, 0, 52)), e);

  for (const owner of [a, b, c, d, e, f, g, h]) t.removeByValue(owner);
  assert.ok(isEmpty(t));

  t.insert(ip4(192, 168, 0, 0), 16, a);
  t.insert(ip4(192, 168, 0, 0), 24, a);
  t.removeByValue(a);
  assert.equal(t.lookup(ip4(192, 168, 0, 1)), undefined);
  assert.ok(isEmpty(t));
});

test('host routes that differ in one bit each, at every depth', () => {
  const a = peer('a');
  const t = new AllowedIps<Peer>();
  const addresses: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    const ip = new Uint8Array(16).fill(0xff);
    ip[i >> 3] &= ~(0x80 >> (i & 7));
    addresses.push(ip);
    t.insert(ip, 128, a);
  }
  for (const ip of addresses) assert.equal(t.lookup(ip), a);
  assert.equal(t.lookup(new Uint8Array(16).fill(0xff)), undefined);
  assert.equal(t.entriesFor(a).length, 128);
  t.removeByValue(a);
  for (const ip of addresses) assert.equal(t.lookup(ip), undefined);
  assert.ok(isEmpty(t));
});

test('entriesFor lists masked prefixes in insertion order (kernel table)', () => {
  const a = peer('a');
  const t = new AllowedIps<Peer>();
  t.insert(ip4(192, 95, 5, 93), 27, a);
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, a);
  t.insert(ip4(10, 1, 0, 20), 29, a);
  t.insert(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 83, a);
  t.insert(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 21, a);
  assert.deepEqual(t.entriesFor(a), [
    { ip: ip4(192, 95, 5, 64), bits: 27 },
    { ip: ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), bits: 128 },
    { ip: ip4(10, 1, 0, 16), bits: 29 },
    { ip: ip6(0x26075300, 0x6d8a6bf8, 0xdab1e000, 0), bits: 83 },
    { ip: ip6(0x26075000, 0, 0, 0), bits: 21 },
  ]);
  assert.deepEqual(t.entriesFor(peer('stranger')), []);
});

test('a prefix belongs to one value: inserting it again moves it', () => {
  const [a, b] = [peer('a'), peer('b')];
  const t = new AllowedIps<Peer>();
  t.insert(ip4(10, 0, 0, 0), 8, a);
  t.insert(ip4(10, 9, 0, 0), 16, a);
  t.insert(ip4(10, 1, 2, 3), 8, b);
  assert.equal(t.lookup(ip4(10, 200, 0, 1)), b);
  assert.equal(t.lookup(ip4(10, 9, 0, 1)), a);
  assert.deepEqual(t.entriesFor(a), [{ ip: ip4(10, 9, 0, 0), bits: 16 }]);
  assert.deepEqual(t.entriesFor(b), [{ ip: ip4(10, 0, 0, 0), bits: 8 }]);

  assert.equal(t.remove(ip4(10, 0, 0, 0), 8, a), false);
  assert.equal(t.lookup(ip4(10, 200, 0, 1)), b);
  assert.equal(t.remove(ip4(10, 0, 0, 0), 16, b), false);
  assert.equal(t.remove(ip4(10, 255, 255, 255), 8, b), true);
  assert.equal(t.lookup(ip4(10, 200, 0, 1)), undefined);
  assert.equal(t.lookup(ip4(10, 9, 0, 1)), a);
  assert.deepEqual(t.entriesFor(b), []);
  assert.equal(t.remove(ip4(10, 0, 0, 0), 8, b), false);
});

test('/0 routes cover their own family only', () => {
  const [v4, v6, host] = [peer('v4'), peer('v6'), peer('host')];
  const t = new AllowedIps<Peer>();
  t.insert(ip4(0, 0, 0, 0), 0, v4);
  assert.equal(t.lookup(ip4(255, 255, 255, 255)), v4);
  assert.equal(t.lookup(ip4(0, 0, 0, 0)), v4);
  assert.equal(t.lookup(ip6(0, 0, 0, 1)), undefined);
  t.insert(ip6(0x20010db8, 1, 2, 3), 0, v6);
  assert.equal(t.lookup(ip6(0xffffffff, 0, 0, 1)), v6);
  assert.deepEqual(t.entriesFor(v6), [{ ip: new Uint8Array(16), bits: 0 }]);
  t.insert(ip4(1, 2, 3, 4), 32, host);
  assert.equal(t.lookup(ip4(1, 2, 3, 4)), host);
  assert.equal(t.lookup(ip4(1, 2, 3, 5)), v4);
  assert.equal(t.remove(ip4(9, 9, 9, 9), 0, v4), true);
  assert.equal(t.lookup(ip4(1, 2, 3, 5)), undefined);
  assert.equal(t.lookup(ip4(1, 2, 3, 4)), host);
  assert.equal(t.lookup(ip6(0, 0, 0, 1)), v6);
});

test('bad addresses and prefix lengths are refused', () => {
  const t = new AllowedIps<Peer>();
  assert.throws(() => t.insert(new Uint8Array(5), 8, peer('a')), RangeError);
  assert.throws(() => t.insert(ip4(1, 2, 3, 4), 33, peer('a')), RangeError);
  assert.throws(() => t.insert(ip6(1, 2, 3, 4), -1, peer('a')), RangeError);
  assert.throws(() => t.insert(ip6(1, 2, 3, 4), 1.5, peer('a')), RangeError);
  assert.throws(() => t.lookup(new Uint8Array(0)), RangeError);
});

// A seeded generator, so that a failure reproduces.
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

interface Route {
  ip: Uint8Array;
  bits: number;
  value: Peer;
}

function maskBytes(ip: Uint8Array, bits: number): Uint8Array {
  return ip.map((byte, i) => byte & (0xff << (8 - Math.max(0, Math.min(8, bits - i * 8)))));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.every((byte, i) => byte === b[i]);
}

function covers(route: Route, ip: Uint8Array): boolean {
  const whole = route.bits >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== route.ip[i]) return false;
  const rest = route.bits & 7;
  return rest === 0 || (ip[whole] & (0xff << (8 - rest)) & 0xff) === route.ip[whole];
}

/** The table the trie must agree with: a list scanned for the longest matching prefix. */
class NaiveTable {
  routes: Route[] = [];
  insert(ip: Uint8Array, bits: number, value: Peer): void {
    const masked = maskBytes(ip, bits);
    const old = this.routes.find((r) => r.bits === bits && sameBytes(r.ip, masked));
    if (old) old.value = value;
    else this.routes.push({ ip: masked, bits, value });
  }
  remove(ip: Uint8Array, bits: number, value: Peer): boolean {
    const masked = maskBytes(ip, bits);
    const i = this.routes.findIndex((r) => r.bits === bits && r.value === value && sameBytes(r.ip, masked));
    if (i !== -1) this.routes.splice(i, 1);
    return i !== -1;
  }
  removeByValue(value: Peer): void {
    this.routes = this.routes.filter((r) => r.value !== value);
  }
  lookup(ip: Uint8Array): Peer | undefined {
    let best: Route | undefined;
    for (const r of this.routes) {
      if (r.ip.length !== ip.length || (best && best.bits >= r.bits)) continue;
      if (covers(r, ip)) best = r;
    }
    return best?.value;
  }
}

for (const size of [4, 16]) {
  test(`random IPv${size === 4 ? 4 : 6} routes agree with a linear longest-prefix match`, () => {
    const random = generator(size * 7919);
    const randomIp = () => Uint8Array.from({ length: size }, () => random(256));
    /** `base` with its first `keep` bits kept and the rest random, as the kernel's random test mutates. */
    const mutate = (base: Uint8Array, keep: number) => {
      const fresh = randomIp();
      return base.map((byte, i) => {
        const mask = 0xff << (8 - Math.max(0, Math.min(8, keep - i * 8)));
        return (byte & mask) | (fresh[i] & ~mask & 0xff);
      });
    };
    const peers = Array.from({ length: 60 }, (_, i) => peer(`p${i}`));
    const t = new AllowedIps<Peer>();
    const naive = new NaiveTable();
    const inserted: Route[] = [];
    const insert = (ip: Uint8Array, bits: number, value: Peer) => {
      t.insert(ip, bits, value);
      naive.insert(ip, bits, value);
      inserted.push({ ip, bits, value });
    };
    for (let i = 0; i < 40; i++) {
      const base = randomIp();
      insert(base, 1 + random(size * 8), peers[random(peers.length)]);
      for (let j = 0; j < 75; j++) {
        insert(mutate(base, random(size * 8)), 1 + random(size * 8), peers[random(peers.length)]);
      }
    }
    const queries = () =>
      Array.from({ length: 1500 }, (_, i) => {
        if (i % 3 === 0) return randomIp();
        const route = inserted[random(inserted.length)];
        return mutate(route.ip, route.bits + random(size * 8 - route.bits + 1));
      });
    const compare = (label: string) => {
      let hits = 0;
      for (const ip of queries()) {
        const expected = naive.lookup(ip);
        assert.equal(t.lookup(ip), expected, `${label}: ${ip.join('.')}`);
        if (expected) hits++;
      }
      return hits;
    };

    assert.ok(naive.routes.length > 1500, `only ${naive.routes.length} distinct routes`);
    assert.ok(compare('full') > 750);
    for (const value of peers) {
      const entries = t.entriesFor(value);
      const expected = naive.routes.filter((r) => r.value === value);
      assert.equal(entries.length, expected.length);
      for (const entry of entries)
        assert.ok(expected.some((r) => r.bits === entry.bits && sameBytes(r.ip, entry.ip)));
    }

    // Single removals, a third of them by a value that does not hold the prefix.
    for (let i = 0; i < 600; i++) {
      const route = inserted[random(inserted.length)];
      const value = i % 3 === 0 ? peers[random(peers.length)] : route.value;
      assert.equal(t.remove(route.ip, route.bits, value), naive.remove(route.ip, route.bits, value));
    }
    compare('after removals');

    // Insert again, into a trie whose freed nodes get reused.
    for (let i = 0; i < 600; i++) {
      const route = inserted[random(inserted.length)];
      insert(mutate(route.ip, random(size * 8)), 1 + random(size * 8), peers[random(peers.length)]);
    }
    compare('after inserting again');

    for (let i = 0; i < peers.length; i++) {
      t.removeByValue(peers[i]);
      naive.removeByValue(peers[i]);
      if (i % 15 === 14) compare(`after removing ${i + 1} values`);
    }
    assert.ok(isEmpty(t));
  });
}
