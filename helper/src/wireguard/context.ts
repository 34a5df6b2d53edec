// What send.ts and receive.ts may use of the device, and nothing more. The device builds one
// DeviceContext and keeps the rest (its configuration, the peer table's writes, the UAPI side) private.

import type { Endpoint } from '../../../shared/src/ip.ts';
import type { AllowedIps } from './allowed-ips.ts';
import type { CookieChecker } from './cookie.ts';
import type { StaticKey } from './crypto.ts';
import type { DeviceIO } from './device.ts';
import type { IndexTable } from './index-table.ts';
import type { Keypair } from './keypair.ts';
import type { Peer } from './peer.ts';
import type { RateLimiter } from './ratelimiter.ts';
import type { DeviceStats, DropReason } from './stats.ts';

/** What the index table maps our u32 indices to: a handshake in flight or a keypair. */
export interface IndexEntry {
  peer: Peer;
  keypair: Keypair | null;
}

export interface DeviceContext {
  readonly io: Pick<DeviceIO, 'sendDatagram' | 'writeTun'>;
  /** What transport data is padded to: the link's MTU as last told (Device.setMtu), read per packet. */
  readonly mtu: number;
  /** Initiator rekey age; only tests shorten it. */
  readonly rekeyAfterTime: number;
  /** Where transport messages are built: one buffer for all, not one allocation per packet. */
  readonly messageBuffer: Buffer;
  /** Our static key pair; null while no private key is set. */
  readonly identity: StaticKey | null;
  /** Peers by the hex of their public key. */
  readonly peers: ReadonlyMap<string, Peer>;
  readonly allowedIps: Pick<AllowedIps<Peer>, 'lookup'>;
  readonly indexTable: IndexTable<IndexEntry>;
  readonly cookieChecker: CookieChecker;
  readonly rateLimiter: RateLimiter;
  readonly stats: Pick<DeviceStats, 'handshakesCompleted'>;
  /** Wall clock in ms since the epoch, for TAI64N and "latest handshake". */
  wallClock(): number;
  drop(reason: DropReason): void;
  /** Queues a handshake message (copied) for processHandshake; drops it when the queue is full. */
  queueHandshake(packet: Buffer, from: Endpoint, now: number): void;
  /** Counts a handshake message and reports whether we are under load (cookies required). */
  noteHandshakeAndCheckLoad(now: number): boolean;
  /** Frees the index of the peer's handshake in flight, if it still has one. */
  releaseHandshakeIndex(peer: Peer): void;
  /** Frees the keypair's index and wipes its keys. */
  deleteKeypair(keypair: Keypair | null): void;
}
