// The one place that decides which library computes each primitive.
// OpenSSL, reached through koffi (openssl.ts), where it is much faster than @noble and so that a tunnel
// never loads node:crypto (~1.8 MB of RSS): X25519 (through EVP directly, x25519.ts), ChaCha20-Poly1305
// of handshake messages (~3x noble; transport-cipher.ts), BLAKE2s-256 and HMAC-BLAKE2s over it, random
// bytes, constant-time comparison, and keyed BLAKE2s with a 16-byte output (mac1/mac2, cookies: OpenSSL
// 3's EVP_MAC "BLAKE2SMAC", ~8x noble, which matters because mac1 is what every unauthenticated
// handshake packet costs us). node:crypto, loaded only then, where those symbols are out of reach.
// @noble where OpenSSL has no equivalent: XChaCha20-Poly1305 (cookie replies), and keyed BLAKE2s where
// the EVP_MAC symbols are missing.

import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { addressOf, openSsl, type OpenSslDigest } from './openssl.ts';
import { TAG_SIZE, transportCipher, writeNonce } from './transport-cipher.ts';
import { clampPrivateKey } from './x25519.ts';

export {
  clampPrivateKey,
  dh,
  publicKeyOf,
  staticKey,
  x25519,
  x25519Public,
  type StaticKey,
  type X25519Backend,
} from './x25519.ts';
export { TAG_SIZE, writeNonce };

export const KEY_SIZE = 32;
export const MAC_SIZE = 16;
const HASH_SIZE = 32;

const nodeCrypto = () => process.getBuiltinModule('node:crypto');

export type HashBackend = 'openssl' | 'node:crypto';

let nativeHash: OpenSslDigest | null | undefined;

/** OpenSSL's one-shot BLAKE2s-256, trusted after one vector agrees with noble's. */
function loadNativeHash(): OpenSslDigest | null {
  const native = openSsl()?.blake2s256;
  if (!native) return null;
  const input = Buffer.alloc(100, 0xa5);
  const out = Buffer.alloc(HASH_SIZE);
  if (native.digest(input, input.length, out) !== 1) {
    openSsl()!.clearErrors();
    return null;
  }
  return out.equals(blake2s(input)) ? native : null;
}

/** Which backend `hash` uses here: OpenSSL when its BLAKE2s-256 is reachable and passes a self-test. */
export function hashBackend(): HashBackend {
  if (nativeHash === undefined) nativeHash = loadNativeHash();
  return nativeHash ? 'openssl' : 'node:crypto';
}

/** BLAKE2s-256 of one input. `backend` is for tests. */
export function digest(input: Uint8Array, backend: HashBackend = hashBackend()): Buffer {
  if (backend === 'openssl' && nativeHash) {
    const out = Buffer.allocUnsafe(HASH_SIZE);
    if (nativeHash.digest(input, input.length, out) === 1) return out;
    openSsl()!.clearErrors();
  }
  return nodeCrypto().createHash('blake2s256').update(input).digest();
}

/** HASH(a || b || ...) = BLAKE2s-256. The parts are joined first: one call into OpenSSL, not several. */
export function hash(...parts: Uint8Array[]): Buffer {
  if (parts.length === 1) return digest(parts[0]!);
  const joined = Buffer.concat(parts);
  const out = digest(joined);
  // The parts may be secret (HMAC's padded key): the joined copy goes as they will.
  joined.fill(0);
  return out;
}

export type MacBackend = 'openssl' | 'noble';

/** One EVP_MAC_CTX for every MAC on this thread, keyed anew per call (the key is one block to hash). */
interface NativeMac {
  ctx: unknown;
  /** OSSL_PARAM[] { "size": 16 }, END; and the memory it points into, kept alive with it. */
  params: Buffer;
  keep: Buffer[];
  outLength: BigUint64Array;
}

let nativeMac: NativeMac | null | undefined;

// struct ossl_param_st on LP64: key (8), data_type (4 + 4 padding), data (8), data_size (8),
// return_size (8); the array ends with an entry whose key is NULL.
const OSSL_PARAM_SIZE = 40;
const OSSL_PARAM_UNSIGNED_INTEGER = 2;
const OSSL_PARAM_UNMODIFIED = 0xffffffffffffffffn;

function loadNativeMac(): NativeMac | null {
  const ssl = openSsl();
  const evp = ssl?.mac;
  if (!ssl || !evp) return null;
  try {
    const algorithm = evp.fetch(null, 'BLAKE2SMAC', null);
    const ctx = algorithm ? evp.ctxNew(algorithm) : null;
    if (!ctx) {
      ssl.clearErrors();
      return null;
    }
    const own = (size: number) => Buffer.from(new ArrayBuffer(size));
    const name = own(8);
    name.write('size\0', 'latin1');
    const size = own(8);
    size.writeBigUInt64LE(BigInt(MAC_SIZE));
    const params = own(2 * OSSL_PARAM_SIZE);
    params.writeBigUInt64LE(addressOf(name), 0);
    params.writeUInt32LE(OSSL_PARAM_UNSIGNED_INTEGER, 8);
    params.writeBigUInt64LE(addressOf(size), 16);
    params.writeBigUInt64LE(8n, 24);
    params.writeBigUInt64LE(OSSL_PARAM_UNMODIFIED, 32);
    const native: NativeMac = { ctx, params, keep: [name, size], outLength: new BigUint64Array(1) };
    // A self-test before trusting it: one vector against noble, or noble it is.
    const key = Buffer.alloc(KEY_SIZE, 0x5a);
    const input = Buffer.alloc(116, 0xa5);
    const got = macNative(native, key, input);
    if (!got || !got.equals(macNoble(key, input))) return null;
    return native;
  } catch {
    ssl.clearErrors();
    return null;
  }
}

function macNative(native: NativeMac, key: Uint8Array, input: Uint8Array): Buffer | null {
  const evp = openSsl()!.mac!;
  const out = Buffer.allocUnsafe(MAC_SIZE);
  const ok =
    evp.init(native.ctx, key, key.length, native.params) === 1 &&
    evp.update(native.ctx, input, input.length) === 1 &&
    evp.final(native.ctx, out, native.outLength, MAC_SIZE) === 1 &&
    native.outLength[0] === BigInt(MAC_SIZE);
  if (ok) return out;
  openSsl()!.clearErrors();
  return null;
}

function macNoble(key: Uint8Array, input: Uint8Array): Buffer {
  const out = blake2s(input, { key, dkLen: MAC_SIZE });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Which backend `mac` uses here: OpenSSL when its BLAKE2SMAC is reachable and passes a self-test. */
export function macBackend(): MacBackend {
  if (nativeMac === undefined) nativeMac = loadNativeMac();
  return nativeMac ? 'openssl' : 'noble';
}

/** MAC(key, input) = keyed BLAKE2s with a 16-byte output. `backend` is for tests. */
export function mac(key: Uint8Array, input: Uint8Array, backend: MacBackend = macBackend()): Buffer {
  // Keys are 16 or 32 bytes here; BLAKE2s takes 1 to 32 and OpenSSL refuses an empty one.
  if (backend === 'openssl' && nativeMac && key.length > 0) {
    const out = macNative(nativeMac, key, input);
    if (out) return out;
  }
  return macNoble(key, input);
}

const BLAKE2S_BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

/**
 * HMAC-BLAKE2s(key, input), RFC 2104 written out over `hash`: node:crypto's createHmac spent most of
 * its time preparing the key on every call (measured 35 us a call against 7 us), and a handshake makes
 * dozens.
 */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const block = Buffer.alloc(BLAKE2S_BLOCK);
  if (key.length > BLAKE2S_BLOCK) hash(key).copy(block);
  else block.set(key);
  for (let i = 0; i < BLAKE2S_BLOCK; i++) block[i]! ^= IPAD;
  const innerDigest = hash(block, ...parts);
  for (let i = 0; i < BLAKE2S_BLOCK; i++) block[i]! ^= IPAD ^ OPAD;
  const out = hash(block, innerDigest);
  wipe(block, innerDigest);
  return out;
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

/** `length` bytes from OpenSSL's CSPRNG (node:crypto's randomBytes draws from the same one). */
export function randomBytes(length: number): Buffer {
  const out = Buffer.alloc(length);
  const ssl = openSsl();
  if (ssl && ssl.randomBytes(out, length) === 1) return out;
  ssl?.clearErrors();
  return nodeCrypto().randomBytes(length);
}

export function generatePrivateKey(): Buffer {
  return clampPrivateKey(randomBytes(KEY_SIZE)) as Buffer;
}

export function randomKey(): Buffer {
  return randomBytes(KEY_SIZE);
}

/** AEAD(key, counter, plaintext, ad) = ChaCha20-Poly1305; returns ciphertext || tag. */
export function seal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, ad?: Uint8Array): Buffer {
  const sealed = Buffer.alloc(plaintext.length + TAG_SIZE);
  sealed.set(plaintext);
  const cipher = transportCipher(key, 'seal');
  try {
    cipher.seal(counter, sealed.subarray(0, plaintext.length), sealed.subarray(plaintext.length), ad);
  } finally {
    cipher.free();
  }
  return sealed;
}

/** Opens ciphertext || tag; null when authentication fails. */
export function open(key: Uint8Array, counter: bigint, sealed: Uint8Array, ad?: Uint8Array): Buffer | null {
  if (sealed.length < TAG_SIZE) return null;
  const length = sealed.length - TAG_SIZE;
  const body = Buffer.from(sealed.subarray(0, length));
  const tag = Buffer.from(sealed.subarray(length));
  const cipher = transportCipher(key, 'open');
  try {
    return cipher.open(counter, body, tag, ad) ? body : null;
  } finally {
    cipher.free();
  }
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
  if (a.length !== b.length) return false;
  const ssl = openSsl();
  return ssl ? ssl.memcmp(a, b, a.length) === 0 : nodeCrypto().timingSafeEqual(a, b);
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
