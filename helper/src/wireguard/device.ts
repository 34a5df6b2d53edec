// The WireGuard device: our identity, the peers, cryptokey routing and the index table. It does no
// I/O and reads no clock: the runner feeds it datagrams, TUN packets and ticks with `now`, and it
// answers through DeviceIO. Sending lives in send.ts, receiving in receive.ts.

import { formatIp, parseIp, type Endpoint, type IpPrefix } from '../../../shared/src/ip.ts';
import { AllowedIps } from './allowed-ips.ts';
import { DeviceConfigError, type DeviceChange, type DeviceSnapshot, type PeerChange } from './config.ts';
import {
  DEFAULT_MTU,
  MAX_MESSAGE_SIZE,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  UNDER_LOAD_AFTER_TIME,
} from './constants.ts';
import type { DeviceContext, IndexEntry } from './context.ts';
import { CookieChecker } from './cookie.ts';
import { equalConstantTime, isZero, staticKey, wipe, type StaticKey } from './crypto.ts';
import { IndexTable } from './index-table.ts';
import type { Keypair } from './keypair.ts';
import { Peer } from './peer.ts';
import { RateLimiter } from './ratelimiter.ts';
import { HandshakeQueue } from './handshake-queue.ts';
import { processHandshake, receiveDatagram } from './receive.ts';
import { sendHandshakeInitiation, sendKeepalive, sendPacket } from './send.ts';
import type { DropReason } from './stats.ts';
import { DeviceStats } from './stats.ts';

export interface DeviceIO {
  /** The packet is valid only during the call: the device builds the next one in the same memory. */
  sendDatagram(packet: Uint8Array, to: Endpoint): void;
  writeTun(packet: Uint8Array): void;
  /** Rebinds the UDP socket; resolves with the port actually bound (0 asks for a random one). */
  setListenPort(port: number): Promise<number>;
  setFwmark(mark: number): void;
}

export interface DeviceOptions {
  io: DeviceIO;
  mtu?: number;
  /** Timer jitter source, [0, 1). */
  random?: () => number;
  /** Wall clock in ms since the epoch, for TAI64N and "latest handshake" (the core reads no clock). */
  wallClock: () => number;
  /** Initiator rekey age; only tests shorten it. */
  rekeyAfterTime?: number;
  /** Handshake messages per second beyond which we answer with cookies instead (under load). */
  underLoadThreshold?: number;
  /** The handshake queue's bound and the length at which the device is under load (tests). */
  handshakeQueueSize?: number;
  underLoadQueueLength?: number;
  /**
   * Called when a handshake message is queued while the queue was empty: the runner then drains it
   * with processHandshakes, in slices, between batches of transport data. Without it the device
   * drains the queue itself at once (tests, in-process pairs).
   */
  handshakesWaiting?: () => void;
  /**
   * Called whenever a peer timer is set, with its deadline: the runner calls `tick` then (or earlier;
   * `nextDeadline` says when next). Tests without it call `tick` themselves.
   */
  timerArmed?: (at: number) => void;
  log?: (message: string) => void;
}

const hexKey = (key: Uint8Array) => Buffer.from(key).toString('hex');

/** A link's MTU: 0 (pad to 16 only) up to what a TUN packet can be. */
function checkedMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > MAX_MESSAGE_SIZE)
    throw new DeviceConfigError('INVALID', `MTU ${mtu} is not a number from 0 to ${MAX_MESSAGE_SIZE}`);
  return mtu;
}

export class Device {
  readonly stats = new DeviceStats();
  /** Cryptokey routing and the index table: readable (tests look into them), changed only here. */
  readonly allowedIps = new AllowedIps<Peer>();
  readonly indexTable = new IndexTable<IndexEntry>();

  private readonly io: DeviceIO;
  private readonly random: () => number;
  private readonly underLoadThreshold: number;
  private readonly log: (message: string) => void;
  private readonly peerTable = new Map<string, Peer>();
  private readonly cookieChecker = new CookieChecker(null);
  private readonly handshakeQueue: HandshakeQueue;
  private readonly handshakesWaiting: (() => void) | undefined;
  private readonly timerArmed: ((at: number) => void) | undefined;
  /** All that send.ts and receive.ts see of the device; its `mtu` changes only through setMtu. */
  private readonly context: Omit<DeviceContext, 'mtu'> & { mtu: number };

  private identity: StaticKey | null = null;
  private boundPort = 0;
  private mark = 0;
  private isUp = false;
  private handshakeWindowStart = -Infinity;
  private handshakesInWindow = 0;
  private underLoadUntil = -Infinity;

  constructor(options: DeviceOptions) {
    this.io = options.io;
    this.random = options.random ?? Math.random;
    this.underLoadThreshold = options.underLoadThreshold ?? 128;
    this.log = options.log ?? (() => {});
    this.handshakeQueue = new HandshakeQueue(options.handshakeQueueSize, options.underLoadQueueLength);
    this.handshakesWaiting = options.handshakesWaiting;
    this.timerArmed = options.timerArmed;
    const identity = () => this.identity;
    this.context = {
      io: options.io,
      mtu: checkedMtu(options.mtu ?? DEFAULT_MTU),
      rekeyAfterTime: options.rekeyAfterTime ?? REKEY_AFTER_TIME,
      messageBuffer: Buffer.allocUnsafe(MAX_MESSAGE_SIZE),
      get identity() {
        return identity();
      },
      peers: this.peerTable,
      allowedIps: this.allowedIps,
      indexTable: this.indexTable,
      cookieChecker: this.cookieChecker,
      rateLimiter: new RateLimiter(),
      stats: this.stats,
      wallClock: options.wallClock,
      drop: (reason) => this.drop(reason),
      queueHandshake: (packet, from, now) => this.queueHandshake(packet, from, now),
      noteHandshakeAndCheckLoad: (now) => this.noteHandshakeAndCheckLoad(now),
      releaseHandshakeIndex: (peer) => this.releaseHandshakeIndex(peer),
      deleteKeypair: (keypair) => this.deleteKeypair(keypair),
    };
  }

  /** Peers by the hex of their public key. */
  get peers(): ReadonlyMap<string, Peer> {
    return this.peerTable;
  }

  /** What transport data is padded to (wireguard-go's tun.mtu): the link's MTU, as last told. */
  get mtu(): number {
    return this.context.mtu;
  }

  /**
   * The link's MTU changed (`ip link set DEV mtu N`): packets sent from now on are padded to it.
   * Returns whether it was a change. Throws DeviceConfigError for a value no link can have.
   */
  setMtu(mtu: number): boolean {
    const next = checkedMtu(mtu);
    if (next === this.context.mtu) return false;
    this.context.mtu = next;
    return true;
  }

  /** The UDP port actually bound (0 until one is). */
  get listenPort(): number {
    return this.boundPort;
  }

  get fwmark(): number {
    return this.mark;
  }

  drop(reason: DropReason): void {
    this.stats.drop(reason);
  }

  /**
   * Under load (wireguard-go's isUnderLoad): a backlog in the handshake queue, or more handshake
   * messages a second than the threshold; either keeps the device under load for a second more.
   */
  private noteHandshakeAndCheckLoad(now: number): boolean {
    if (now - this.handshakeWindowStart >= 1000) {
      this.handshakeWindowStart = now;
      this.handshakesInWindow = 0;
    }
    if (++this.handshakesInWindow > this.underLoadThreshold || this.handshakeQueue.underLoad)
      this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    return now < this.underLoadUntil;
  }

  private queueHandshake(packet: Buffer, from: Endpoint, now: number): void {
    if (!this.handshakeQueue.push(packet, from, now)) return this.drop('handshakeQueueFull');
    if (!this.handshakesWaiting) this.processHandshakes(now);
    else if (this.handshakeQueue.length === 1) this.handshakesWaiting();
  }

  /** Handshake messages waiting in the queue. */
  get pendingHandshakes(): number {
    return this.handshakeQueue.length;
  }

  /**
   * Processes up to `max` queued handshake messages (the runner's slice); returns how many still wait.
   * Never throws: a message that fails is dropped and counted.
   */
  processHandshakes(now: number, max = Infinity): number {
    for (let done = 0; done < max; done++) {
      const next = this.handshakeQueue.shift();
      if (!next) break;
      processHandshake(this.context, next.packet, next.from, now);
    }
    return this.handshakeQueue.length;
  }

  /**
   * A datagram from the UDP socket. Never throws: bad input is dropped and counted. Transport data is
   * decrypted in place, so the buffer is the device's from here on.
   */
  receiveDatagram(packet: Buffer, from: Endpoint, now: number): void {
    receiveDatagram(this.context, packet, from, now);
  }

  /** An IP packet read from the TUN, to encrypt for the peer that owns its destination. */
  sendPacket(packet: Buffer, now: number): void {
    sendPacket(this.context, packet, now);
  }

  /** Starts a fresh handshake now, regardless of the 5 s initiation rate limit (a deliberate retry). */
  initiateHandshake(peer: Peer, now: number): void {
    peer.handshake.lastSentHandshake = -Infinity;
    sendHandshakeInitiation(this.context, peer, false, now);
  }

  /** Brings the device up: peers with a persistent keepalive start their handshake at once. */
  up(now: number): void {
    this.isUp = true;
    for (const peer of this.peerTable.values())
      if (peer.persistentKeepalive > 0) sendKeepalive(this.context, peer, now);
  }

  /** When the earliest peer timer is due (monotonic ms), or undefined when none is pending. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const peer of this.peerTable.values()) {
      const at = peer.timers.next();
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** Runs every peer's due timers; the runner calls it when `nextDeadline` (or a timerArmed) is due. */
  tick(now: number): void {
    for (const peer of this.peerTable.values()) {
      for (const timer of peer.timers.expired(now)) {
        switch (timer) {
          case 'retransmitHandshake':
            this.retransmitHandshake(peer, now);
            break;
          case 'sendKeepalive':
            sendKeepalive(this.context, peer, now);
            if (peer.timers.needAnotherKeepalive) {
              peer.timers.needAnotherKeepalive = false;
              peer.timers.dataReceived(now);
            }
            break;
          case 'newHandshake':
            this.log(`peer ${this.peerName(peer)}: no reply for a while, starting a new handshake`);
            sendHandshakeInitiation(this.context, peer, false, now);
            break;
          case 'zeroKeyMaterial':
            this.zeroKeyMaterial(peer);
            break;
          case 'persistentKeepalive':
            if (peer.persistentKeepalive > 0) sendKeepalive(this.context, peer, now);
            break;
        }
      }
    }
  }

  private retransmitHandshake(peer: Peer, now: number): void {
    if (peer.timers.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      this.log(`peer ${this.peerName(peer)}: handshake did not complete after 90 s, giving up`);
      peer.timers.stop('sendKeepalive');
      this.stats.drop('stagedFlushed', peer.staged.length);
      peer.staged = [];
      if (!peer.timers.isPending('zeroKeyMaterial')) peer.timers.sessionDerived(now);
      return;
    }
    peer.timers.handshakeAttempts++;
    this.stats.handshakeRetries++;
    sendHandshakeInitiation(this.context, peer, true, now);
  }

  /** Forgets every keypair and the handshake in flight (540 s after the last session). */
  private zeroKeyMaterial(peer: Peer): void {
    const { keypairs } = peer;
    for (const keypair of [keypairs.previous, keypairs.current, keypairs.next]) this.deleteKeypair(keypair);
    keypairs.previous = keypairs.current = keypairs.next = null;
    this.releaseHandshakeIndex(peer);
    peer.handshake.clear();
  }

  private deleteKeypair(keypair: Keypair | null): void {
    if (!keypair) return;
    if (this.indexTable.get(keypair.localIndex)?.keypair === keypair)
      this.indexTable.delete(keypair.localIndex);
    keypair.wipe();
  }

  private releaseHandshakeIndex(peer: Peer): void {
    const index = peer.handshake.localIndex;
    const entry = this.indexTable.get(index);
    if (entry && entry.peer === peer && entry.keypair === null) this.indexTable.delete(index);
    peer.handshake.localIndex = 0;
  }

  private peerName(peer: Peer): string {
    return peer.publicKey.toString('base64');
  }

  // ---- configuration (UAPI) ----

  snapshot(): DeviceSnapshot {
    return {
      privateKey: this.identity ? Buffer.from(this.identity.privateKey) : null,
      listenPort: this.boundPort,
      fwmark: this.mark,
      peers: [...this.peerTable.values()].map((peer) => ({
        publicKey: peer.publicKey,
        presharedKey: isZero(peer.handshake.presharedKey) ? null : Buffer.from(peer.handshake.presharedKey),
        endpoint: peer.endpoint,
        persistentKeepalive: peer.persistentKeepalive,
        lastHandshake: peer.lastHandshakeWallMs
          ? {
              sec: Math.floor(peer.lastHandshakeWallMs / 1000),
              nsec: (peer.lastHandshakeWallMs % 1000) * 1_000_000,
            }
          : null,
        rxBytes: peer.rxBytes,
        txBytes: peer.txBytes,
        allowedIps: this.allowedIps.entriesFor(peer).map(({ ip, bits }) => ({
          address: formatIp(ip),
          bits,
          family: ip.length === 4 ? 4 : 6,
        })),
      })),
    };
  }

  /** Applies a configuration change; `now` is the monotonic clock, as for every other call. */
  async apply(change: DeviceChange, now: number): Promise<void> {
    if (change.privateKey !== undefined) this.setPrivateKey(change.privateKey);
    if (change.listenPort !== undefined) {
      try {
        this.boundPort = await this.io.setListenPort(change.listenPort);
      } catch (error) {
        throw new DeviceConfigError(
          'ADDRESS_IN_USE',
          `cannot listen on UDP port ${change.listenPort}: ${(error as Error).message}`,
        );
      }
    }
    if (change.fwmark !== undefined) {
      this.io.setFwmark(change.fwmark);
      this.mark = change.fwmark;
    }
    if (change.replacePeers) for (const peer of [...this.peerTable.values()]) this.removePeer(peer);
    for (const peerChange of change.peers) this.applyPeer(peerChange, now);
  }

  private applyPeer(change: PeerChange, now: number): void {
    // A peer with our own public key would be ourselves; wireguard-go ignores it the same way.
    if (this.identity && equalConstantTime(change.publicKey, this.identity.publicKey)) return;
    let peer = this.peerTable.get(hexKey(change.publicKey));
    if (change.remove) {
      if (peer) this.removePeer(peer);
      return;
    }
    if (!peer) {
      if (change.updateOnly) return;
      peer = new Peer(change.publicKey, this.identity, this.random, this.timerArmed);
      this.peerTable.set(hexKey(change.publicKey), peer);
    }
    if (change.presharedKey !== undefined) {
      // Applies from the next handshake; the running session keeps its keys.
      wipe(peer.handshake.presharedKey);
      peer.handshake.presharedKey = change.presharedKey ? Buffer.from(change.presharedKey) : Buffer.alloc(32);
    }
    if (change.endpoint) peer.endpoint = change.endpoint;
    if (change.replaceAllowedIps) this.allowedIps.removeByValue(peer);
    for (const prefix of change.removeAllowedIps)
      this.allowedIps.remove(prefixBytes(prefix), prefix.bits, peer);
    for (const prefix of change.addAllowedIps) this.allowedIps.insert(prefixBytes(prefix), prefix.bits, peer);
    if (change.persistentKeepalive !== undefined) {
      const wasOff = peer.persistentKeepalive === 0;
      peer.persistentKeepalive = change.persistentKeepalive;
      if (wasOff && peer.persistentKeepalive > 0 && this.isUp) sendKeepalive(this.context, peer, now);
    }
  }

  private setPrivateKey(privateKey: Uint8Array | null): void {
    if (privateKey && this.identity && equalConstantTime(privateKey, this.identity.privateKey)) return;
    if (this.identity) wipe(this.identity.privateKey);
    this.identity = privateKey ? staticKey(privateKey) : null;
    this.cookieChecker.init(this.identity?.publicKey ?? null);
    const self = this.identity && this.peerTable.get(hexKey(this.identity.publicKey));
    if (self) this.removePeer(self);
    for (const peer of this.peerTable.values()) {
      peer.handshake.setLocalKey(this.identity);
      this.expireCurrentKeypairs(peer);
    }
  }

  /** Stops sending on the current keys (they were made with an old identity) and forces a handshake. */
  private expireCurrentKeypairs(peer: Peer): void {
    this.releaseHandshakeIndex(peer);
    peer.handshake.clear();
    peer.handshake.lastSentHandshake = -Infinity;
    for (const keypair of [peer.keypairs.current, peer.keypairs.next]) {
      if (keypair) keypair.sendNonce = REJECT_AFTER_MESSAGES;
    }
  }

  private removePeer(peer: Peer): void {
    this.zeroKeyMaterial(peer);
    this.allowedIps.removeByValue(peer);
    peer.timers.stopAll();
    peer.staged = [];
    wipe(peer.handshake.presharedKey, peer.handshake.precomputedStaticStatic);
    this.peerTable.delete(hexKey(peer.publicKey));
  }

  close(): void {
    this.handshakeQueue.clear();
    for (const peer of [...this.peerTable.values()]) this.removePeer(peer);
    if (this.identity) wipe(this.identity.privateKey);
    this.identity = null;
    this.isUp = false;
  }
}

function prefixBytes(prefix: IpPrefix): Uint8Array {
  const bytes = parseIp(prefix.address);
  if (!bytes) throw new DeviceConfigError('INVALID', `invalid address ${prefix.address}`);
  return bytes;
}
