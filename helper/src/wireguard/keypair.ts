// Transport keypairs and the three slots a peer keeps (whitepaper §5.4.6; wireguard-go keypair.go).

import { ReplayFilter } from './replay.ts';
import { wipe } from './crypto.ts';
import type { SessionKeys } from './noise.ts';
import { transportCipher, type TransportCipher } from './transport-cipher.ts';

export class Keypair {
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
  /** The same keys prepared once for the data path. */
  readonly sendCipher: TransportCipher;
  readonly receiveCipher: TransportCipher;
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
    this.sendCipher = transportCipher(keys.sendKey, 'seal');
    this.receiveCipher = transportCipher(keys.receiveKey, 'open');
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.created = created;
  }

  wipe(): void {
    this.sendCipher.free();
    this.receiveCipher.free();
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
