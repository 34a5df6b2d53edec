// The Noise_IKpsk2 handshake exactly as WireGuard runs it (whitepaper §5.4, wireguard-go
// device/noise-protocol.go). Pure: callers pass in indices, timestamps, the clock and, for tests,
// fixed ephemerals; message macs are added by cookie.ts.

import {
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  HANDSHAKE_INITIATION_RATE,
} from './constants.ts';
import {
  dh,
  generatePrivateKey,
  hash,
  kdf,
  KEY_SIZE,
  open,
  seal,
  staticKey,
  wipe,
  type StaticKey,
} from './crypto.ts';
import { tai64nAfter } from './tai64n.ts';

const CONSTRUCTION = Buffer.from('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const IDENTIFIER = Buffer.from('WireGuard v1 zx2c4 Jason@zx2c4.com');
export const INITIAL_CHAIN_KEY = hash(CONSTRUCTION);
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, IDENTIFIER);

const EMPTY = Buffer.alloc(0);

export type HandshakeState =
  'zeroed' | 'initiation-created' | 'initiation-consumed' | 'response-created' | 'response-consumed';

/** The per-peer handshake: the peer's static key, the PSK, and the transcript in flight. */
export class Handshake {
  state: HandshakeState = 'zeroed';
  readonly remoteStatic: Buffer;
  presharedKey: Buffer = Buffer.alloc(KEY_SIZE);
  /** DH(our static, their static); null when we have no private key or the result is zero. */
  precomputedStaticStatic: Buffer | null = null;
  chainKey: Buffer = Buffer.alloc(KEY_SIZE);
  hash: Buffer = Buffer.alloc(KEY_SIZE);
  localEphemeral: StaticKey | null = null;
  remoteEphemeral: Buffer = Buffer.alloc(KEY_SIZE);
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N accepted from this peer: an initiation must be strictly newer (replay). */
  latestTimestamp: Buffer = Buffer.alloc(12);
  lastInitiationConsumed = -Infinity;
  lastSentHandshake = -Infinity;

  constructor(remoteStatic: Uint8Array, local: StaticKey | null) {
    this.remoteStatic = Buffer.from(remoteStatic);
    this.setLocalKey(local);
  }

  setLocalKey(local: StaticKey | null): void {
    wipe(this.precomputedStaticStatic);
    this.precomputedStaticStatic = local ? dh(local, this.remoteStatic) : null;
  }

  /** Drops the transcript in flight (not the peer's identity, PSK or replay state). */
  clear(): void {
    wipe(this.chainKey, this.hash, this.localEphemeral?.privateKey, this.remoteEphemeral);
    this.localEphemeral = null;
    this.state = 'zeroed';
  }
}

export interface InitiationOptions {
  localIndex: number;
  /** TAI64N of now. */
  timestamp: Uint8Array;
  /** A fixed ephemeral private key, for test vectors only. */
  ephemeral?: Uint8Array;
}

/** Builds a handshake initiation (macs left zero) and moves the handshake to initiation-created. */
export function createInitiation(local: StaticKey, hs: Handshake, options: InitiationOptions): Buffer | null {
  if (!hs.precomputedStaticStatic) return null;
  const msg = Buffer.alloc(MESSAGE_INITIATION_SIZE);
  msg.writeUInt32LE(MESSAGE_INITIATION_TYPE, 0);
  msg.writeUInt32LE(options.localIndex, 4);

  const ephemeral = staticKey(options.ephemeral ?? generatePrivateKey());
  let h = hash(INITIAL_HASH, hs.remoteStatic);
  let [c] = kdf(1, INITIAL_CHAIN_KEY, ephemeral.publicKey) as [Buffer];
  msg.set(ephemeral.publicKey, 8);
  h = hash(h, ephemeral.publicKey);

  const es = dh(ephemeral, hs.remoteStatic);
  if (!es) return null;
  let key: Buffer;
  [c, key] = kdf(2, c, es) as [Buffer, Buffer];
  const encryptedStatic = seal(key, 0n, local.publicKey, h);
  msg.set(encryptedStatic, 40);
  h = hash(h, encryptedStatic);

  [c, key] = kdf(2, c, hs.precomputedStaticStatic) as [Buffer, Buffer];
  const encryptedTimestamp = seal(key, 0n, options.timestamp, h);
  msg.set(encryptedTimestamp, 88);
  h = hash(h, encryptedTimestamp);
  wipe(es, key);

  hs.clear();
  hs.chainKey = c;
  hs.hash = h;
  hs.localEphemeral = ephemeral;
  hs.localIndex = options.localIndex;
  hs.state = 'initiation-created';
  return msg;
}

/**
 * Consumes an initiation addressed to `local`. `findPeer` maps the decrypted initiator static key
 * to its handshake. Returns that handshake (now initiation-consumed) or null: bad crypto, unknown
 * peer, a replayed timestamp, or a second initiation within 20 ms (flood).
 */
export function consumeInitiation(
  local: StaticKey,
  msg: Buffer,
  findPeer: (remoteStatic: Buffer) => Handshake | undefined,
  now: number,
): Handshake | null {
  const ephemeral = msg.subarray(8, 40);
  let h = hash(INITIAL_HASH, local.publicKey);
  let [c] = kdf(1, INITIAL_CHAIN_KEY, ephemeral) as [Buffer];
  h = hash(h, ephemeral);

  const es = dh(local, ephemeral);
  if (!es) return null;
  let key: Buffer;
  [c, key] = kdf(2, c, es) as [Buffer, Buffer];
  const encryptedStatic = msg.subarray(40, 88);
  const remoteStatic = open(key, 0n, encryptedStatic, h);
  if (!remoteStatic) return null;
  h = hash(h, encryptedStatic);

  const hs = findPeer(remoteStatic);
  if (!hs?.precomputedStaticStatic) return null;
  [c, key] = kdf(2, c, hs.precomputedStaticStatic) as [Buffer, Buffer];
  const encryptedTimestamp = msg.subarray(88, 116);
  const timestamp = open(key, 0n, encryptedTimestamp, h);
  wipe(es, key);
  if (!timestamp) return null;
  h = hash(h, encryptedTimestamp);

  const replay = !tai64nAfter(timestamp, hs.latestTimestamp);
  const flood = now - hs.lastInitiationConsumed <= HANDSHAKE_INITIATION_RATE;
  if (replay || flood) return null;

  hs.clear();
  hs.chainKey = c;
  hs.hash = h;
  hs.remoteIndex = msg.readUInt32LE(4);
  hs.remoteEphemeral = Buffer.from(ephemeral);
  hs.latestTimestamp = timestamp;
  hs.lastInitiationConsumed = now;
  hs.state = 'initiation-consumed';
  return hs;
}

export interface ResponseOptions {
  localIndex: number;
  ephemeral?: Uint8Array;
}

/** Answers a consumed initiation (macs left zero); the handshake moves to response-created. */
export function createResponse(hs: Handshake, options: ResponseOptions): Buffer | null {
  if (hs.state !== 'initiation-consumed') return null;
  const msg = Buffer.alloc(MESSAGE_RESPONSE_SIZE);
  msg.writeUInt32LE(MESSAGE_RESPONSE_TYPE, 0);
  msg.writeUInt32LE(options.localIndex, 4);
  msg.writeUInt32LE(hs.remoteIndex, 8);

  const ephemeral = staticKey(options.ephemeral ?? generatePrivateKey());
  msg.set(ephemeral.publicKey, 12);
  let h = hash(hs.hash, ephemeral.publicKey);
  let [c] = kdf(1, hs.chainKey, ephemeral.publicKey) as [Buffer];
  const ee = dh(ephemeral, hs.remoteEphemeral);
  const se = dh(ephemeral, hs.remoteStatic);
  if (!ee || !se) return null;
  [c] = kdf(1, c, ee) as [Buffer];
  [c] = kdf(1, c, se) as [Buffer];
  const [c2, tau, key] = kdf(3, c, hs.presharedKey) as [Buffer, Buffer, Buffer];
  h = hash(h, tau);
  const empty = seal(key, 0n, EMPTY, h);
  msg.set(empty, 44);
  h = hash(h, empty);
  wipe(ee, se, c, tau, key);

  wipe(hs.chainKey, hs.hash);
  hs.chainKey = c2;
  hs.hash = h;
  hs.localEphemeral = ephemeral;
  hs.localIndex = options.localIndex;
  hs.state = 'response-created';
  return msg;
}

/** Consumes a response to the initiation `hs` sent; false leaves the handshake untouched. */
export function consumeResponse(local: StaticKey, hs: Handshake, msg: Buffer): boolean {
  if (hs.state !== 'initiation-created' || !hs.localEphemeral) return false;
  const ephemeral = msg.subarray(12, 44);
  let h = hash(hs.hash, ephemeral);
  let [c] = kdf(1, hs.chainKey, ephemeral) as [Buffer];
  const ee = dh(hs.localEphemeral, ephemeral);
  const se = dh(local, ephemeral);
  if (!ee || !se) return false;
  [c] = kdf(1, c, ee) as [Buffer];
  [c] = kdf(1, c, se) as [Buffer];
  const [c2, tau, key] = kdf(3, c, hs.presharedKey) as [Buffer, Buffer, Buffer];
  h = hash(h, tau);
  const empty = msg.subarray(44, 60);
  const ok = open(key, 0n, empty, h) !== null;
  wipe(ee, se, c, tau, key);
  if (!ok) {
    wipe(c2);
    return false;
  }
  h = hash(h, empty);

  wipe(hs.chainKey, hs.hash);
  hs.chainKey = c2;
  hs.hash = h;
  hs.remoteIndex = msg.readUInt32LE(4);
  hs.state = 'response-consumed';
  return true;
}

export interface SessionKeys {
  sendKey: Buffer;
  receiveKey: Buffer;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

/** Derives the transport keys from a finished handshake and zeroes the transcript. */
export function deriveSessionKeys(hs: Handshake): SessionKeys | null {
  let isInitiator: boolean;
  if (hs.state === 'response-consumed') isInitiator = true;
  else if (hs.state === 'response-created') isInitiator = false;
  else return null;
  const [first, second] = kdf(2, hs.chainKey, EMPTY) as [Buffer, Buffer];
  const keys: SessionKeys = {
    sendKey: isInitiator ? first : second,
    receiveKey: isInitiator ? second : first,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  hs.clear();
  hs.localIndex = 0;
  return keys;
}
