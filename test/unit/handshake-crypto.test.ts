// The handshake's primitives in crypto.ts go through OpenSSL (koffi) so that a tunnel never loads
// node:crypto; node:crypto is the reference they must agree with, and the fallback where OpenSSL's
// symbols are out of reach.

import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import test from 'node:test';
import {
  digest,
  equalConstantTime,
  hash,
  hashBackend,
  open,
  randomBytes,
  seal,
  TAG_SIZE,
} from '../../helper/src/wireguard/crypto.ts';

test("OpenSSL's BLAKE2s-256 is reachable with the pinned Node and passes its self-test", () => {
  assert.equal(hashBackend(), 'openssl');
});

for (const backend of ['openssl', 'node:crypto'] as const) {
  test(`BLAKE2s-256 through ${backend} equals node:crypto's for every length around a block`, () => {
    for (const length of [0, 1, 31, 32, 63, 64, 65, 128, 148, 1000]) {
      const input = nodeRandomBytes(length);
      const expected = createHash('blake2s256').update(input).digest();
      assert.deepEqual(digest(input, backend), expected, `${length} bytes`);
    }
  });
}

test('hash of several parts is the hash of their concatenation, and covers exactly each view', () => {
  const whole = nodeRandomBytes(200);
  const parts = [whole.subarray(0, 3), whole.subarray(3, 100), whole.subarray(100)];
  const expected = createHash('blake2s256').update(whole).digest();
  assert.deepEqual(hash(...parts), expected);
  assert.deepEqual(
    hash(whole.subarray(5, 50)),
    createHash('blake2s256').update(whole.subarray(5, 50)).digest(),
  );
  assert.deepEqual(hash(), createHash('blake2s256').digest());
});

test("the handshake's AEAD equals node:crypto's, with and without additional data, and opens back", () => {
  for (const [plainLength, adLength] of [
    [0, 32],
    [32, 32],
    [12, 32],
    [1420, 0],
  ] as const) {
    const key = nodeRandomBytes(32);
    const plaintext = nodeRandomBytes(plainLength);
    const ad = adLength > 0 ? nodeRandomBytes(adLength) : undefined;
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64LE(9n, 4);
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
    if (ad) cipher.setAAD(ad, { plaintextLength: plainLength });
    const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const sealed = seal(key, 9n, plaintext, ad);
    assert.deepEqual(sealed, expected, `${plainLength} bytes, ${adLength} of data`);
    assert.deepEqual(open(key, 9n, sealed, ad), plaintext);
    const before = Buffer.from(sealed);
    assert.equal(open(key, 10n, sealed, ad), null, 'wrong counter');
    assert.deepEqual(sealed, before, 'open leaves its input alone');
    if (ad) assert.equal(open(key, 9n, sealed, Buffer.alloc(adLength)), null, 'wrong additional data');
  }
  assert.equal(open(nodeRandomBytes(32), 0n, Buffer.alloc(TAG_SIZE - 1)), null, 'shorter than a tag');
});

test('random bytes: the length asked for, and never the same twice', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 64; i++) {
    const bytes = randomBytes(32);
    assert.equal(bytes.length, 32);
    seen.add(bytes.toString('hex'));
  }
  assert.equal(seen.size, 64);
  assert.equal(randomBytes(0).length, 0);
  assert.equal(randomBytes(256).length, 256);
});

test('constant-time comparison: equal, one bit apart, different lengths, empty', () => {
  const a = nodeRandomBytes(32);
  assert.equal(equalConstantTime(a, Buffer.from(a)), true);
  for (const at of [0, 15, 31]) {
    const b = Buffer.from(a);
    b[at]! ^= 0x80;
    assert.equal(equalConstantTime(a, b), false, `bit flipped at ${at}`);
  }
  assert.equal(equalConstantTime(a, a.subarray(0, 31)), false);
  assert.equal(equalConstantTime(Buffer.alloc(0), new Uint8Array(0)), true);
});
