// One peer: who it is, how to reach it, its handshake and keypairs, and what it has moved.

import type { Endpoint } from '../../../shared/src/ip.ts';
import { CookieGenerator } from './cookie.ts';
import type { StaticKey } from './crypto.ts';
import { Keypairs } from './keypair.ts';
import { Handshake } from './noise.ts';
import { Timers } from './timers.ts';

export class Peer {
  readonly publicKey: Buffer;
  readonly handshake: Handshake;
  readonly cookieGenerator: CookieGenerator;
  readonly keypairs = new Keypairs();
  readonly timers: Timers;
  endpoint: Endpoint | null = null;
  persistentKeepalive = 0;
  /** Packets waiting for a usable keypair; the oldest are dropped beyond MAX_STAGED_PACKETS. */
  staged: Buffer[] = [];
  rxBytes = 0n;
  txBytes = 0n;
  /**
   * How many authenticated messages arrived that answer something we sent: handshake responses and
   * transport data. A handshake initiation from the peer answers nothing (the peer reaches us; that
   * says nothing of whether we reach it), so it does not count.
   */
  answersReceived = 0;
  /** Monotonic ms of the first initiation still unanswered (nothing authentic received since). */
  awaitingHandshakeSince: number | null = null;
  /** Wall-clock ms of the latest completed handshake, 0 for never. */
  lastHandshakeWallMs = 0;

  constructor(
    publicKey: Uint8Array,
    local: StaticKey | null,
    random: () => number,
    timerArmed?: (at: number) => void,
  ) {
    this.publicKey = Buffer.from(publicKey);
    this.handshake = new Handshake(this.publicKey, local);
    this.cookieGenerator = new CookieGenerator(this.publicKey);
    this.timers = new Timers(random, timerArmed);
  }
}
