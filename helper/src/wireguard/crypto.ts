// The one place that decides which library computes each primitive.
// node:crypto (OpenSSL) where it is much faster: X25519 (~30x noble), ChaCha20-Poly1305 of handshake
// messages (~3x noble), BLAKE2s-256 and HMAC-BLAKE2s. Transport messages: transport-cipher.ts. @noble where OpenSSL has no equivalent: keyed BLAKE2s
// with a 16-byte output (mac1/mac2) and XChaCha20-Poly1305 (cookie replies).

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const KEY_SIZE = 32;
export const TAG_SIZE = 16;
export const MAC_SIZE = 16;

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** HASH(a || b || ...) = BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const part of parts) h.update(part);
  return h.digest();
}

/** MAC(key, input) = keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, input: Uint8Array): Buffer {
  const out = blake2s(input, { key, dkLen: MAC_SIZE });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** HMAC-BLAKE2s(key, input). */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('blake2s256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);
const THREE = Buffer.from([3]);

/** HKDF over HMAC-BLAKE2s returning the first n (1..3) outputs, as the whitepaper's KDF1/2/3. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const out = [t1];
  if (n >= 2) out.push(hmac(prk, t1, TWO));
  if (n === 3) out.push(hmac(prk, out[1]!, THREE));
  prk.fill(0);
  return out;
}

/** Clamps an X25519 private key in place (RFC 7748), as `wg genkey` does. */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0]! &= 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

export function generatePrivateKey(): Buffer {
  return clampPrivateKey(randomBytes(KEY_SIZE)) as Buffer;
}

export function randomKey(): Buffer {
  return randomBytes(KEY_SIZE);
}

/** An X25519 private key ready for repeated DH (OpenSSL key object) plus its public key. */
export interface StaticKey {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
  readonly keyObject: KeyObject;
}

export function staticKey(privateKey: Uint8Array): StaticKey {
  const raw = Buffer.from(privateKey);
  clampPrivateKey(raw);
  const keyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  return { privateKey: raw, publicKey: Buffer.from(spki.subarray(SPKI_X25519_PREFIX.length)), keyObject };
}

export function publicKeyOf(privateKey: Uint8Array): Buffer {
  return staticKey(privateKey).publicKey;
}

/** X25519(private, public); null when the result is all zeros (a low-order point), which the
 *  protocol treats as a failed handshake. */
export function dh(privateKey: StaticKey, publicKey: Uint8Array): Buffer | null {
  try {
    return diffieHellman({
      privateKey: privateKey.keyObject,
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_X25519_PREFIX, publicKey]),
        format: 'der',
        type: 'spki',
      }),
    });
  } catch {
    // OpenSSL refuses an all-zero shared secret ("failed during key derivation").
    return null;
  }
}

/** The 96-bit AEAD nonce: 32 zero bits then the 64-bit little-endian counter. */
export function writeNonce(nonce: Buffer, counter: bigint): Buffer {
  nonce.writeUInt32LE(0, 0);
  nonce.writeBigUInt64LE(counter, 4);
  return nonce;
}

/** AEAD(key, counter, plaintext, ad) = ChaCha20-Poly1305; returns ciphertext || tag. */
export function seal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, ad?: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, writeNonce(Buffer.allocUnsafe(12), counter), {
    authTagLength: TAG_SIZE,
  });
  if (ad) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([head, cipher.getAuthTag()]);
}

/** Opens ciphertext || tag; null when authentication fails. */
export function open(key: Uint8Array, counter: bigint, sealed: Uint8Array, ad?: Uint8Array): Buffer | null {
  if (sealed.length < TAG_SIZE) return null;
  const body = sealed.subarray(0, sealed.length - TAG_SIZE);
  const decipher = createDecipheriv('chacha20-poly1305', key, writeNonce(Buffer.allocUnsafe(12), counter), {
    authTagLength: TAG_SIZE,
  });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  if (ad) decipher.setAAD(ad, { plaintextLength: body.length });
  const plaintext = decipher.update(body);
  try {
    decipher.final();
  } catch {
    plaintext.fill(0);
    return null;
  }
  return plaintext;
}

/** XAEAD = XChaCha20-Poly1305 with a 24-byte nonce (cookie replies only). */
export function xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  return Buffer.from(xchacha20poly1305(key, nonce, ad).encrypt(plaintext));
}

export function xopen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
  try {
    return Buffer.from(xchacha20poly1305(key, nonce, ad).decrypt(sealed));
  } catch {
    return null;
  }
}

/** Constant-time comparison of equal-length secrets or macs. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const byte of bytes) acc |= byte;
  return acc === 0;
}

/** Overwrites key material that is being dropped. */
export function wipe(...buffers: Array<Uint8Array | null | undefined>): void {
  for (const buffer of buffers) buffer?.fill(0);
}
