import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { CookieChecker, CookieGenerator } from '../../helper/src/wireguard/cookie.ts';
import {
  dh,
  hmac,
  kdf,
  mac,
  open,
  publicKeyOf,
  seal,
  staticKey,
  x25519 as x25519Dh,
  x25519Public,
} from '../../helper/src/wireguard/crypto.ts';
import { Keypair } from '../../helper/src/wireguard/keypair.ts';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
  Handshake,
  INITIAL_CHAIN_KEY,
  INITIAL_HASH,
} from '../../helper/src/wireguard/noise.ts';
import { encryptTransport } from '../../helper/src/wireguard/send.ts';

// The fixed transcript an independent implementation produced and checked against wireguard-go.
const vectors = new Map<string, Buffer>();
for (const line of readFileSync(new URL('../fixtures/wireguard-vectors.txt', import.meta.url), 'utf8').split(
  '\n',
)) {
  // "name[(size)] [notes] HEX": the name is the first word, the value the last.
  const words = line.trim().split(/\s+/);
  const value = words.at(-1)!;
  if (line.startsWith('#') || words.length < 2 || !/^[0-9a-f]+$/.test(value)) continue;
  vectors.set(words[0]!.replace(/\(.*$/, ''), Buffer.from(value, 'hex'));
}
const v = (name: string) => {
  const value = vectors.get(name);
  assert.ok(value, `vector ${name} missing`);
  return value;
};

const Si = staticKey(v('Si_priv'));
const Sr = staticKey(v('Sr_priv'));
const INITIATOR_INDEX = 0x01020304;
const RESPONDER_INDEX = 0x0a0b0c0d;

function handshakePair() {
  const initiator = new Handshake(Sr.publicKey, Si);
  const responder = new Handshake(Si.publicKey, Sr);
  initiator.presharedKey = Buffer.from(v('psk'));
  responder.presharedKey = Buffer.from(v('psk'));
  return { initiator, responder };
}

function runHandshake() {
  const { initiator, responder } = handshakePair();
  const initiation = createInitiation(Si, initiator, {
    localIndex: INITIATOR_INDEX,
    timestamp: v('timestamp'),
    ephemeral: v('Ei_priv'),
  })!;
  const toResponder = new CookieGenerator(Sr.publicKey);
  toResponder.addMacs(initiation, 0);
  const found = consumeInitiation(
    Sr,
    initiation,
    (pub) => (pub.equals(Si.publicKey) ? responder : undefined),
    0,
  );
  assert.equal(found, responder);
  const response = createResponse(responder, { localIndex: RESPONDER_INDEX, ephemeral: v('Er_priv') })!;
  new CookieGenerator(Si.publicKey).addMacs(response, 0);
  return { initiator, responder, initiation, response, toResponder };
}

test('the construction constants match the whitepaper', () => {
  assert.equal(
    INITIAL_CHAIN_KEY.toString('hex'),
    '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36',
  );
  assert.equal(
    INITIAL_HASH.toString('hex'),
    '2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3',
  );
});

test('static public keys match the vectors', () => {
  assert.deepEqual(Si.publicKey, v('Si_pub'));
  assert.deepEqual(Sr.publicKey, v('Sr_pub'));
});

test('KDF3 reproduces wireguard-go kdf_test.go', () => {
  const [t1, t2, t3] = kdf(3, Buffer.from('test-key'), Buffer.from('test-input'));
  assert.equal(t1!.toString('hex'), '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633');
  assert.equal(t2!.toString('hex'), 'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a');
  assert.equal(t3!.toString('hex'), 'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24');
});

test('the initiation is byte-for-byte the vector', () => {
  const { initiation } = runHandshake();
  assert.equal(initiation.toString('hex'), v('initiation').toString('hex'));
});

test('the response is byte-for-byte the vector', () => {
  const { response } = runHandshake();
  assert.equal(response.toString('hex'), v('response').toString('hex'));
});

test('both sides derive the vector transport keys', () => {
  const { initiator, responder, response } = runHandshake();
  assert.ok(consumeResponse(Si, initiator, response));
  const i = deriveSessionKeys(initiator)!;
  const r = deriveSessionKeys(responder)!;
  assert.equal(i.sendKey.toString('hex'), v('T_init_send').toString('hex'));
  assert.equal(i.receiveKey.toString('hex'), v('T_init_recv').toString('hex'));
  assert.deepEqual(r.sendKey, i.receiveKey);
  assert.deepEqual(r.receiveKey, i.sendKey);
  assert.equal(i.remoteIndex, RESPONDER_INDEX);
  assert.equal(r.remoteIndex, INITIATOR_INDEX);
  assert.equal(initiator.state, 'zeroed');
  assert.ok(
    initiator.chainKey.every((b) => b === 0),
    'the transcript is wiped',
  );
});

test('the first keepalive and data messages match the vectors', () => {
  const { initiator, responder, response } = runHandshake();
  consumeResponse(Si, initiator, response);
  const i = new Keypair(deriveSessionKeys(initiator)!, 0);
  const r = new Keypair(deriveSessionKeys(responder)!, 0);
  const keepalive = encryptTransport(i, 0n, Buffer.alloc(0), 1420);
  assert.equal(keepalive.toString('hex'), v('keepalive').toString('hex'));
  const data = v('data');
  const plaintext = open(i.receiveKey, 0n, data.subarray(16))!;
  assert.equal(plaintext.length, 32, '20 bytes padded to 32');
  assert.deepEqual(encryptTransport(r, 0n, plaintext, 1420), data);
});

test('a replayed initiation is refused', () => {
  const { initiation, responder } = runHandshake();
  const again = consumeInitiation(Sr, initiation, () => responder, 1000);
  assert.equal(again, null);
});

test('an initiation from an unknown static key is refused', () => {
  const { initiation } = runHandshake();
  assert.equal(
    consumeInitiation(Sr, initiation, () => undefined, 0),
    null,
  );
});

test('a wrong preshared key fails the response', () => {
  const { initiator, responder } = handshakePair();
  responder.presharedKey = Buffer.alloc(32, 9);
  const initiation = createInitiation(Si, initiator, { localIndex: 1, timestamp: v('timestamp') })!;
  consumeInitiation(Sr, initiation, () => responder, 0);
  const response = createResponse(responder, { localIndex: 2 })!;
  assert.equal(consumeResponse(Si, initiator, response), false);
  assert.equal(initiator.state, 'initiation-created', 'a failed response leaves the handshake as it was');
});

test('a cookie reply decrypts with the last mac1 and yields the vector mac2', () => {
  const { initiation, toResponder } = runHandshake();
  assert.ok(toResponder.consumeReply(v('cookie_reply'), 0));
  const copy = Buffer.from(initiation);
  toResponder.addMacs(copy, 1);
  assert.equal(copy.subarray(132).toString('hex'), v('mac2').toString('hex'));
});

test('cookie checker: one source gets at most 20 replies a second after a burst of 5', () => {
  const checker = new CookieChecker(Sr.publicKey);
  const { initiation } = runHandshake();
  const source = Buffer.from('198.51.100.1:51820');
  const replies = (key: string, now: number, tries: number) =>
    Array.from({ length: tries }, () =>
      checker.createReply(initiation, INITIATOR_INDEX, source, key, now),
    ).filter(Boolean).length;
  assert.equal(replies('198.51.100.1', 0, 100), 5, 'a burst of 5, then nothing');
  assert.equal(replies('198.51.100.2', 0, 100), 5, 'another source has its own share');
  assert.equal(replies('198.51.100.1', 50, 100), 1, 'one more every 50 ms');
  assert.equal(replies('198.51.100.1', 1050, 100), 5, 'full again after a second');
});

test('cookie checker: mac1, cookie reply, mac2 round trip', () => {
  const checker = new CookieChecker(Sr.publicKey);
  const { initiation, toResponder } = runHandshake();
  assert.ok(checker.checkMac1(initiation));
  const source = Buffer.from('198.51.100.1:51820');
  assert.equal(checker.checkMac2(initiation, source, 0), false, 'no cookie yet');
  const reply = checker.createReply(initiation, INITIATOR_INDEX, source, '198.51.100.1', 0);
  assert.ok(reply);
  assert.equal(reply.readUInt32LE(4), INITIATOR_INDEX);
  assert.ok(toResponder.consumeReply(reply, 0));
  const retry = Buffer.from(initiation);
  toResponder.addMacs(retry, 10);
  assert.ok(checker.checkMac2(retry, source, 10));
  assert.equal(
    checker.checkMac2(retry, Buffer.from('203.0.113.9:1'), 10),
    false,
    'cookie is bound to the source',
  );
  assert.equal(checker.checkMac2(retry, source, 200_000), false, 'the secret expires after 120 s');
  const tampered = Buffer.from(initiation);
  tampered[20]! ^= 1;
  assert.equal(checker.checkMac1(tampered), false);
  assert.equal(mac(Buffer.alloc(32), Buffer.alloc(0)).length, 16);
});

test('OpenSSL and noble agree on X25519 and ChaCha20-Poly1305', () => {
  for (let i = 0; i < 8; i++) {
    const a = staticKey(Buffer.alloc(32, i + 1));
    const b = staticKey(Buffer.alloc(32, i + 100));
    assert.deepEqual(Buffer.from(x25519.getPublicKey(a.privateKey)), a.publicKey);
    assert.deepEqual(Buffer.from(x25519.getSharedSecret(a.privateKey, b.publicKey)), dh(a, b.publicKey));
    const key = Buffer.alloc(32, i);
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64LE(BigInt(i * 1000), 4);
    const plaintext = Buffer.alloc(1420 - i * 100, i);
    const ours = seal(key, BigInt(i * 1000), plaintext);
    assert.deepEqual(Buffer.from(chacha20poly1305(key, nonce).encrypt(plaintext)), ours);
  }
  assert.deepEqual(publicKeyOf(v('Sr_priv')), v('Sr_pub'));
});

test('hmac (RFC 2104 over createHash) equals createHmac for keys shorter, equal and longer than a block', () => {
  for (const length of [0, 1, 32, 63, 64, 65, 200]) {
    const key = randomBytes(length);
    const parts = [randomBytes(7), randomBytes(100)];
    const expected = createHmac('blake2s256', key).update(parts[0]!).update(parts[1]!).digest();
    assert.deepEqual(hmac(key, ...parts), expected, `${length}-byte key`);
  }
});

test('a low-order public key makes DH fail instead of yielding zeros', () => {
  assert.equal(dh(Si, Buffer.alloc(32)), null);
});

for (const backend of ['openssl', 'node:crypto'] as const) {
  test(`X25519 through ${backend} agrees with noble and refuses low-order points`, () => {
    for (let i = 0; i < 4; i++) {
      const a = randomBytes(32);
      const b = randomBytes(32);
      const publicB = x25519Public(b, backend);
      assert.deepEqual(publicB, Buffer.from(x25519.getPublicKey(b)));
      assert.deepEqual(x25519Dh(a, publicB, backend), Buffer.from(x25519.getSharedSecret(a, publicB)));
    }
    assert.equal(x25519Dh(randomBytes(32), Buffer.alloc(32), backend), null);
  });
}
