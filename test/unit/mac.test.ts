import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { blake2s } from '@noble/hashes/blake2.js';
import { CookieChecker, CookieGenerator } from '../../helper/src/wireguard/cookie.ts';
import { hash, mac, macBackend } from '../../helper/src/wireguard/crypto.ts';

// mac1/mac2 through OpenSSL's BLAKE2SMAC and through @noble, against each other and the vectors.

const lines = readFileSync(new URL('../fixtures/wireguard-vectors.txt', import.meta.url), 'utf8').split('\n');
const vector = (name: string) => {
  const line = lines.find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}(`));
  assert.ok(line, `vector ${name} missing`);
  return Buffer.from(line.trim().split(/\s+/).at(-1)!, 'hex');
};
const mac1Key = (publicKey: Uint8Array) => hash(Buffer.from('mac1----'), publicKey);

test('the native backend is reachable with the pinned Node (OpenSSL 3)', () => {
  assert.equal(macBackend(), 'openssl');
});

for (const backend of ['openssl', 'noble'] as const) {
  test(`mac through ${backend} reproduces the vectors' mac1 of the initiation and the response`, () => {
    const initiation = vector('initiation');
    const response = vector('response');
    assert.deepEqual(
      mac(mac1Key(vector('Sr_pub')), initiation.subarray(0, 116), backend),
      initiation.subarray(116, 132),
    );
    assert.deepEqual(
      mac(mac1Key(vector('Si_pub')), response.subarray(0, 60), backend),
      response.subarray(60, 76),
    );
  });
}

test('OpenSSL and noble agree on keyed BLAKE2s-128 for every key and input length used, and more', () => {
  for (const keyLength of [1, 16, 31, 32]) {
    for (const inputLength of [0, 1, 16, 63, 64, 65, 116, 132, 200, 1500]) {
      const key = randomBytes(keyLength);
      const input = randomBytes(inputLength);
      const native = mac(key, input, 'openssl');
      assert.deepEqual(native, mac(key, input, 'noble'), `${keyLength}-byte key, ${inputLength}-byte input`);
      assert.deepEqual(native, Buffer.from(blake2s(input, { key, dkLen: 16 })));
      assert.equal(native.length, 16);
    }
  }
});

test('a MAC from a subarray covers exactly that view', () => {
  const key = randomBytes(32);
  const big = randomBytes(300);
  const view = big.subarray(50, 166);
  assert.deepEqual(mac(key, view, 'openssl'), mac(key, Buffer.from(view), 'noble'));
});

test('the checker (native) accepts the vector initiation and the generator produces it', () => {
  const initiation = vector('initiation');
  const checker = new CookieChecker(vector('Sr_pub'));
  assert.ok(checker.checkMac1(initiation));
  const copy = Buffer.from(initiation);
  copy.fill(0, 116);
  new CookieGenerator(vector('Sr_pub')).addMacs(copy, 0);
  assert.deepEqual(copy, initiation);
  const junk = randomBytes(148);
  assert.equal(checker.checkMac1(junk), false);
});
