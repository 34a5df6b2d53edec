// OpenSSL's libcrypto, as the running Node has it, called through koffi for the data path and the
// handshake, where node:crypto's per-call objects cost several times the work itself, and so that a
// tunnel does not load node:crypto at all (~1.8 MB of the helper's RSS, docs/performance.md). Official
// Node builds link OpenSSL in and export its symbols; distribution builds link the system's libcrypto.
// Both are found by looking symbols up in the running process. null where that fails: callers then
// use node:crypto.

import koffi from 'koffi';

/** Where `buffer` lives, for pointers inside structures (it must not move: an ArrayBuffer of its own). */
export const addressOf = (buffer: Uint8Array): bigint => koffi.address(buffer) as bigint;

export interface OpenSsl {
  chacha20Poly1305: unknown;
  cipherCtxNew: () => unknown;
  cipherCtxFree: (ctx: unknown) => void;
  cipherInit: (
    ctx: unknown,
    cipher: unknown,
    engine: null,
    key: Uint8Array | null,
    iv: Uint8Array | null,
    enc: number,
  ) => number;
  /** `out` null passes additional authenticated data. */
  cipherUpdate: (
    ctx: unknown,
    out: Uint8Array | null,
    outLength: Int32Array,
    input: Uint8Array,
    inputLength: number,
  ) => number;
  cipherFinal: (ctx: unknown, out: Uint8Array, outLength: Int32Array) => number;
  cipherCtrl: (ctx: unknown, type: number, arg: number, pointer: Uint8Array) => number;
  pkeyNewRawPrivate: (type: number, engine: null, key: Uint8Array, length: number) => unknown;
  pkeyNewRawPublic: (type: number, engine: null, key: Uint8Array, length: number) => unknown;
  pkeyGetRawPublic: (pkey: unknown, out: Uint8Array, length: BigUint64Array) => number;
  pkeyFree: (pkey: unknown) => void;
  pkeyCtxNew: (pkey: unknown, engine: null) => unknown;
  pkeyCtxFree: (ctx: unknown) => void;
  deriveInit: (ctx: unknown) => number;
  deriveSetPeer: (ctx: unknown, peer: unknown) => number;
  derive: (ctx: unknown, out: Uint8Array, length: BigUint64Array) => number;
  /** RAND_bytes: OpenSSL's CSPRNG, the one node:crypto's randomBytes draws from. 1 on success. */
  randomBytes: (out: Uint8Array, length: number) => number;
  /** CRYPTO_memcmp: 0 when equal, in time that depends only on the length. */
  memcmp: (a: Uint8Array, b: Uint8Array, length: number) => number;
  /** Failures leave entries in the thread's error queue, where node:crypto would find them later. */
  clearErrors: () => void;
  /** OpenSSL 3's EVP_MAC interface, for keyed BLAKE2s ("BLAKE2SMAC"); null before OpenSSL 3. */
  mac: OpenSslMac | null;
  /** One-shot BLAKE2s-256; null where OpenSSL was built without BLAKE2. */
  blake2s256: OpenSslDigest | null;
}

export interface OpenSslDigest {
  /** EVP_Digest(input, inputLength, out, NULL, EVP_blake2s256(), NULL): 1 on success. */
  digest: (input: Uint8Array, inputLength: number, out: Uint8Array) => number;
}

export interface OpenSslMac {
  fetch: (libctx: null, algorithm: string, properties: null) => unknown;
  ctxNew: (mac: unknown) => unknown;
  /** `params` points at an OSSL_PARAM array (built in memory we own), or null. */
  init: (ctx: unknown, key: Uint8Array | null, keyLength: number, params: Uint8Array | null) => number;
  update: (ctx: unknown, input: Uint8Array, inputLength: number) => number;
  final: (ctx: unknown, out: Uint8Array, outLength: BigUint64Array, outSize: number) => number;
}

function loadMac(lib: ReturnType<typeof koffi.load>): OpenSslMac | null {
  try {
    const f = (signature: string) => lib.func(signature) as never;
    return {
      fetch: f('void *EVP_MAC_fetch(void *libctx, const char *algorithm, const char *properties)'),
      ctxNew: f('void *EVP_MAC_CTX_new(void *mac)'),
      init: f('int EVP_MAC_init(void *ctx, const void *key, size_t keyLength, const void *params)'),
      update: f('int EVP_MAC_update(void *ctx, const void *input, size_t inputLength)'),
      final: f('int EVP_MAC_final(void *ctx, void *out, void *outLength, size_t outSize)'),
    };
  } catch {
    // Symbols missing (OpenSSL 1.1): the caller falls back to @noble.
    return null;
  }
}

function loadBlake2s256(lib: ReturnType<typeof koffi.load>): OpenSslDigest | null {
  try {
    const md = (lib.func('const void *EVP_blake2s256()') as () => unknown)();
    const evpDigest = lib.func(
      'int EVP_Digest(const void *data, size_t count, void *md, void *size, const void *type, void *impl)',
    ) as (...args: unknown[]) => number;
    if (!md) return null;
    return { digest: (input, inputLength, out) => evpDigest(input, inputLength, out, null, md, null) };
  } catch {
    return null;
  }
}

function load(): OpenSsl | null {
  try {
    const lib = koffi.load(null as unknown as string);
    const f = (signature: string) => lib.func(signature) as never;
    const chacha20Poly1305 = (lib.func('const void *EVP_chacha20_poly1305()') as () => unknown)();
    if (!chacha20Poly1305) return null;
    return {
      chacha20Poly1305,
      cipherCtxNew: f('void *EVP_CIPHER_CTX_new()'),
      cipherCtxFree: f('void EVP_CIPHER_CTX_free(void *ctx)'),
      cipherInit: f(
        'int EVP_CipherInit_ex(void *ctx, const void *cipher, void *engine, const void *key, const void *iv, int enc)',
      ),
      cipherUpdate: f(
        'int EVP_CipherUpdate(void *ctx, void *out, void *outLength, const void *input, int inputLength)',
      ),
      cipherFinal: f('int EVP_CipherFinal_ex(void *ctx, void *out, void *outLength)'),
      cipherCtrl: f('int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *pointer)'),
      pkeyNewRawPrivate: f(
        'void *EVP_PKEY_new_raw_private_key(int type, void *engine, const void *key, size_t length)',
      ),
      pkeyNewRawPublic: f(
        'void *EVP_PKEY_new_raw_public_key(int type, void *engine, const void *key, size_t length)',
      ),
      pkeyGetRawPublic: f('int EVP_PKEY_get_raw_public_key(const void *pkey, void *out, void *length)'),
      pkeyFree: f('void EVP_PKEY_free(void *pkey)'),
      pkeyCtxNew: f('void *EVP_PKEY_CTX_new(void *pkey, void *engine)'),
      pkeyCtxFree: f('void EVP_PKEY_CTX_free(void *ctx)'),
      deriveInit: f('int EVP_PKEY_derive_init(void *ctx)'),
      deriveSetPeer: f('int EVP_PKEY_derive_set_peer(void *ctx, void *peer)'),
      derive: f('int EVP_PKEY_derive(void *ctx, void *out, void *length)'),
      randomBytes: f('int RAND_bytes(void *out, int length)'),
      memcmp: f('int CRYPTO_memcmp(const void *a, const void *b, size_t length)'),
      clearErrors: f('void ERR_clear_error()'),
      mac: loadMac(lib),
      blake2s256: loadBlake2s256(lib),
    };
  } catch {
    return null;
  }
}

let openssl: OpenSsl | null | undefined;

export function openSsl(): OpenSsl | null {
  if (openssl === undefined) openssl = load();
  return openssl;
}
