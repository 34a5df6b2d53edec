// X25519: key pairs and Diffie-Hellman, through OpenSSL's EVP with raw keys (openssl.ts), or
// node:crypto where those symbols are out of reach. Apart from the rest of crypto.ts so that the
// service can show a stored tunnel's public key without loading node:crypto, @noble and the
// handshake's primitives: the idle service stays that much smaller (docs/performance.md).

import { openSsl } from './openssl.ts';

/** Bytes in an X25519 scalar, point and shared secret. */
const X25519_SIZE = 32;
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** Clamps an X25519 private key in place (RFC 7748), as `wg genkey` does. */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0]! &= 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

/** An X25519 private key (clamped) and its public key. */
export interface StaticKey {
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

export function staticKey(privateKey: Uint8Array): StaticKey {
  const raw = clampPrivateKey(Buffer.from(privateKey)) as Buffer;
  return { privateKey: raw, publicKey: x25519Public(raw) };
}

export function publicKeyOf(privateKey: Uint8Array): Buffer {
  return staticKey(privateKey).publicKey;
}

/** X25519(private, public); null when the result is all zeros (a low-order point), which the
 *  protocol treats as a failed handshake. */
export function dh(privateKey: StaticKey, publicKey: Uint8Array): Buffer | null {
  return x25519(privateKey.privateKey, publicKey);
}

const NID_X25519 = 1034;

// X25519 through OpenSSL's EVP with raw keys (openssl.ts), or node:crypto where that is out of reach.
// node:crypto only takes keys as KeyObjects built from DER, and building them costs far more than
// the scalar multiplication: a handshake took 1.7 ms a side that way, 40 % of it in KeyObjects.

export type X25519Backend = 'openssl' | 'node:crypto';

const defaultBackend = (): X25519Backend => (openSsl() ? 'openssl' : 'node:crypto');

/** X25519(scalar, point); null for an all-zero result. `backend` is for tests. */
export function x25519(scalar: Uint8Array, point: Uint8Array, backend = defaultBackend()): Buffer | null {
  const ssl = backend === 'openssl' ? openSsl() : null;
  if (!ssl) return x25519NodeCrypto(scalar, point);
  const own = ssl.pkeyNewRawPrivate(NID_X25519, null, scalar, X25519_SIZE);
  const peer = ssl.pkeyNewRawPublic(NID_X25519, null, point, X25519_SIZE);
  const ctx = own ? ssl.pkeyCtxNew(own, null) : null;
  const shared = Buffer.alloc(X25519_SIZE);
  // OpenSSL refuses an all-zero shared secret in EVP_PKEY_derive.
  const ok =
    ctx !== null &&
    peer !== null &&
    ssl.deriveInit(ctx) === 1 &&
    ssl.deriveSetPeer(ctx, peer) === 1 &&
    ssl.derive(ctx, shared, new BigUint64Array([BigInt(X25519_SIZE)])) === 1;
  // Freeing an EVP_PKEY cleanses the key it holds.
  if (ctx) ssl.pkeyCtxFree(ctx);
  if (peer) ssl.pkeyFree(peer);
  if (own) ssl.pkeyFree(own);
  if (ok) return shared;
  ssl.clearErrors();
  return null;
}

/** X25519(scalar, 9): the public key of a private one. `backend` is for tests. */
export function x25519Public(scalar: Uint8Array, backend = defaultBackend()): Buffer {
  const ssl = backend === 'openssl' ? openSsl() : null;
  if (!ssl) return x25519PublicNodeCrypto(scalar);
  const own = ssl.pkeyNewRawPrivate(NID_X25519, null, scalar, X25519_SIZE);
  const publicKey = Buffer.alloc(X25519_SIZE);
  const ok =
    own !== null && ssl.pkeyGetRawPublic(own, publicKey, new BigUint64Array([BigInt(X25519_SIZE)])) === 1;
  if (own) ssl.pkeyFree(own);
  if (!ok) {
    ssl.clearErrors();
    throw new Error('OpenSSL could not derive an X25519 public key');
  }
  return publicKey;
}

const privateKeyObject = (scalar: Uint8Array) =>
  process
    .getBuiltinModule('node:crypto')
    .createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, scalar]), format: 'der', type: 'pkcs8' });

function x25519NodeCrypto(scalar: Uint8Array, point: Uint8Array): Buffer | null {
  try {
    const { createPublicKey, diffieHellman } = process.getBuiltinModule('node:crypto');
    return diffieHellman({
      privateKey: privateKeyObject(scalar),
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_X25519_PREFIX, point]),
        format: 'der',
        type: 'spki',
      }),
    });
  } catch {
    // OpenSSL refuses an all-zero shared secret ("failed during key derivation").
    return null;
  }
}

function x25519PublicNodeCrypto(scalar: Uint8Array): Buffer {
  const { createPublicKey } = process.getBuiltinModule('node:crypto');
  const spki = createPublicKey(privateKeyObject(scalar)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(SPKI_X25519_PREFIX.length));
}
