// Whether a tunnel is connected, and what to do when it is not. WireGuard itself retries a handshake
// every 5 s for 90 s and then goes quiet; a VPN client must keep trying, politely: exponential
// backoff with jitter (capped), fresh DNS for the endpoint each time, and an immediate retry when
// the machine wakes from sleep or its network changes.

import { formatEndpoint } from '../../../shared/src/ip.ts';
import { REJECT_AFTER_TIME } from '../wireguard/constants.ts';
import type { Device } from '../wireguard/device.ts';
import type { Peer } from '../wireguard/peer.ts';
import { monotonicMs } from '../clock.ts';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Why we are not connected, in words for people. */
  reason?: string;
  attempt?: number;
  nextRetrySeconds?: number;
  /** Wall-clock ms when this state began. */
  since: number;
}

export interface ConnectionOptions {
  device: Device;
  /** Resolves endpoint host names again before a retry. */
  reresolve: () => Promise<void>;
  onChange: (status: ConnectionStatus) => void;
  log: (line: string) => void;
  /** Monotonic ms. */
  now?: () => number;
  wallClock?: () => number;
  random?: () => number;
}

/** How long a first connection may take before we call it a failure and start backing off. */
export const CONNECT_TIMEOUT = 20_000;
export const RETRY_BASE = 2_000;
export const RETRY_CAP = 60_000;
/** A wall-clock jump this much larger than the monotonic one means the machine slept. */
const SLEEP_DETECTION_SLACK = 5_000;

export class Connection {
  private readonly options: Required<ConnectionOptions>;
  private status: ConnectionStatus;
  private stateStart: number;
  private nextRetryAt = Infinity;
  /** Monotonic ms when the session was last good, or when we began trying. */
  private lastHealthyAt: number;
  private lastCheck: { mono: number; wall: number };

  constructor(options: ConnectionOptions) {
    this.options = {
      now: monotonicMs,
      wallClock: Date.now,
      random: Math.random,
      ...options,
    };
    this.stateStart = this.options.now();
    this.lastHealthyAt = this.stateStart;
    this.status = { state: 'connecting', since: this.options.wallClock() };
    this.lastCheck = { mono: this.stateStart, wall: this.status.since };
  }

  get current(): ConnectionStatus {
    return this.status;
  }

  /** The peer whose session decides the tunnel's state: the first one we know how to reach. */
  private mainPeer(): Peer | undefined {
    const peers = [...this.options.device.peers.values()];
    return peers.find((peer) => peer.endpoint) ?? peers[0];
  }

  /** A live session, and no handshake left unanswered for longer than a first connection may take. */
  private healthy(peer: Peer | undefined, now: number): boolean {
    const keypair = peer?.keypairs.current;
    if (!peer || !keypair || now - keypair.created >= REJECT_AFTER_TIME) return false;
    return peer.awaitingHandshakeSince === null || now - peer.awaitingHandshakeSince < CONNECT_TIMEOUT;
  }

  /** Called about once a second. */
  check(): void {
    const { now: monotonic, wallClock } = this.options;
    const now = monotonic();
    const wall = wallClock();
    const slept = wall - this.lastCheck.wall - (now - this.lastCheck.mono) > SLEEP_DETECTION_SLACK;
    this.lastCheck = { mono: now, wall };
    const peer = this.mainPeer();

    if (this.healthy(peer, now)) {
      this.lastHealthyAt = now;
      if (slept) this.retryNow('the system woke from sleep');
      else if (this.status.state !== 'connected') this.enter({ state: 'connected', since: wall }, now);
      return;
    }
    if (slept) return this.retryNow('the system woke from sleep');
    if (
      this.status.state === 'connected' ||
      (this.status.state === 'connecting' && now - this.stateStart >= CONNECT_TIMEOUT)
    ) {
      this.scheduleRetry(1, now, wall);
      return;
    }
    if (this.status.state === 'reconnecting' && now >= this.nextRetryAt) {
      this.retry(now);
      this.scheduleRetry((this.status.attempt ?? 0) + 1, now, wall);
    }
  }

  /** The network changed (address, route or link): try again at once instead of waiting. */
  networkChanged(): void {
    this.retryNow('the network changed');
  }

  private retryNow(why: string): void {
    const now = this.options.now();
    this.options.log(`${why}: handshaking again`);
    this.retry(now);
    if (this.status.state === 'reconnecting') this.scheduleRetry(1, now, this.options.wallClock());
  }

  /** Handshakes at once with the endpoint we have, and resolves its name again for the next try. */
  private retry(now: number): void {
    const peer = this.mainPeer();
    if (peer) this.options.device.initiateHandshake(peer, now);
    this.options
      .reresolve()
      .catch((error: Error) => this.options.log(`resolving the endpoint: ${error.message}`));
  }

  private scheduleRetry(attempt: number, now: number, wall: number): void {
    const backoff = Math.min(RETRY_CAP, RETRY_BASE * 2 ** (attempt - 1));
    const delay = backoff * (0.8 + 0.4 * this.options.random());
    this.nextRetryAt = now + delay;
    const peer = this.mainPeer();
    const silentFor = Math.round((now - this.lastHealthyAt) / 1000);
    const where = peer?.endpoint ? formatEndpoint(peer.endpoint) : 'the peer (no endpoint known)';
    this.enter(
      {
        state: 'reconnecting',
        reason: `Handshake did not complete: no answer from ${where} for ${silentFor} s`,
        attempt,
        nextRetrySeconds: Math.round(delay / 1000),
        since: this.status.state === 'reconnecting' ? this.status.since : wall,
      },
      now,
    );
  }

  private enter(status: ConnectionStatus, now: number): void {
    if (status.state !== this.status.state) this.stateStart = now;
    if (status.state === 'connected') this.nextRetryAt = Infinity;
    this.status = status;
    this.options.onChange(status);
  }
}
