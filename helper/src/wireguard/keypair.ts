// Transport keypairs and the three slots a peer keeps (whitepaper §5.4.6; wireguard-go keypair.go).

import { ReplayFilter } from './replay.ts';
import type { KeyObject } from 'node:crypto';
import { aeadKey, wipe } from './crypto.ts';
import type { SessionKeys } from './noise.ts';

export class Keypair {
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
  /** The same keys prepared for OpenSSL once, not per packet. */
  readonly sendCipherKey: KeyObject;
  readonly receiveCipherKey: KeyObject;
  readonly isInitiator: boolean;
  readonly localIndex: number;
  readonly remoteIndex: number;
  /** Monotonic ms when the handshake that made it finished. */
  readonly created: number;
  sendNonce = 0n;
  readonly replay = new ReplayFilter();

  constructor(keys: SessionKeys, created: number) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.sendCipherKey = aeadKey(keys.sendKey);
    this.receiveCipherKey = aeadKey(keys.receiveKey);
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.created = created;
  }

  /** The OpenSSL copies inside the key objects are freed with them; JS cannot reach them to zero. */
  wipe(): void {
    wipe(this.sendKey, this.receiveKey);
  }
}

/**
 * `current` sends; `previous` still receives what was in flight; `next` is a responder's new
 * keypair, unused for sending until the initiator proves it has it (key confirmation).
 */
export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  next: Keypair | null = null;
}
