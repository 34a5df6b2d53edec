import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import test from 'node:test';
import {
  TAG_SIZE,
  transportCipher,
  transportCipherBackend,
} from '../../helper/src/wireguard/transport-cipher.ts';

/** The reference: node:crypto's ChaCha20-Poly1305, ciphertext || tag. */
function nodeSeal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, ad?: Uint8Array): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(counter, 4);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  if (ad) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([head, cipher.getAuthTag()]);
}

test('OpenSSL EVP is reachable through koffi on Linux (else the data path runs 3-5x slower)', () => {
  assert.equal(transportCipherBackend(), 'openssl');
});

for (const backend of ['openssl', 'node:crypto'] as const) {
  test(`${backend} transport cipher seals in place exactly as node:crypto's AEAD, any length`, () => {
    const key = randomBytes(32);
    const sealer = transportCipher(key, 'seal', backend);
    for (const [counter, length] of [
      [0n, 0],
      [1n, 1],
      [2n, 16],
      [3n, 1420],
      [2n ** 64n - 1n, 1440],
    ] as const) {
      const plaintext = randomBytes(length);
      const message = Buffer.alloc(length + TAG_SIZE);
      plaintext.copy(message);
      sealer.seal(counter, message.subarray(0, length), message.subarray(length));
      assert.deepEqual(message, nodeSeal(key, counter, plaintext), `counter ${counter}, ${length} bytes`);
    }
  });

  test(`${backend} transport cipher opens in place, and a forged tag or counter fails and zeroes`, () => {
    const key = randomBytes(32);
    const opener = transportCipher(key, 'open', backend);
    const plaintext = randomBytes(1420);
    const sealed = () => nodeSeal(key, 7n, plaintext);

    const good = sealed();
    assert.equal(opener.open(7n, good.subarray(0, 1420), good.subarray(1420)), true);
    assert.deepEqual(good.subarray(0, 1420), plaintext);

    const forged = sealed();
    forged[1420]! ^= 1;
    assert.equal(opener.open(7n, forged.subarray(0, 1420), forged.subarray(1420)), false);
    assert.ok(
      forged.subarray(0, 1420).every((byte) => byte === 0),
      'unauthenticated plaintext zeroed',
    );

    const wrongCounter = sealed();
    assert.equal(opener.open(8n, wrongCounter.subarray(0, 1420), wrongCounter.subarray(1420)), false);

    // A failure leaves the context usable for the next packet.
    const again = sealed();
    assert.equal(opener.open(7n, again.subarray(0, 1420), again.subarray(1420)), true);
    assert.deepEqual(again.subarray(0, 1420), plaintext);
  });

  test(`${backend} transport cipher authenticates additional data as node:crypto does (the handshake's AEAD)`, () => {
    const key = randomBytes(32);
    const sealer = transportCipher(key, 'seal', backend);
    const opener = transportCipher(key, 'open', backend);
    for (const [plainLength, adLength] of [
      [0, 32],
      [32, 32],
      [12, 32],
      [48, 0],
      [100, 77],
    ] as const) {
      const plaintext = randomBytes(plainLength);
      const ad = randomBytes(adLength);
      const message = Buffer.alloc(plainLength + TAG_SIZE);
      plaintext.copy(message);
      const body = message.subarray(0, plainLength);
      const tag = message.subarray(plainLength);
      sealer.seal(5n, body, tag, ad);
      assert.deepEqual(
        message,
        nodeSeal(key, 5n, plaintext, ad),
        `${plainLength} bytes, ${adLength} of data`,
      );
      const otherAd = Buffer.from(ad);
      otherAd[0] = (otherAd[0] ?? 0) ^ 1;
      const copy = Buffer.from(message);
      if (adLength > 0)
        assert.equal(
          opener.open(5n, copy.subarray(0, plainLength), copy.subarray(plainLength), otherAd),
          false,
        );
      assert.equal(opener.open(5n, body, tag, ad), true);
      assert.deepEqual(body, plaintext);
    }
  });

  test(`${backend} transport cipher refuses use after free instead of touching freed memory`, () => {
    const cipher = transportCipher(randomBytes(32), 'seal', backend);
    cipher.free();
    cipher.free();
    assert.throws(() => cipher.seal(0n, Buffer.alloc(16), Buffer.alloc(16)), /after its keypair was wiped/);
  });
}
