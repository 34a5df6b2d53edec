// The five per-peer timers of wireguard-go's timers.go, kept as deadlines on the device's
// monotonic clock. The device calls the event hooks as packets flow and asks `expired(now)` when it
// ticks; each deadline set is reported to `armed`, so the runner wakes exactly when one is due
// instead of polling (an idle tunnel then costs no wake-ups), and a test drives every timer with a
// fake clock.

import {
  KEEPALIVE_TIMEOUT,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  ZERO_KEY_MATERIAL_AFTER,
} from './constants.ts';

export type TimerName =
  'retransmitHandshake' | 'sendKeepalive' | 'newHandshake' | 'zeroKeyMaterial' | 'persistentKeepalive';

const TIMER_NAMES: TimerName[] = [
  'retransmitHandshake',
  'sendKeepalive',
  'newHandshake',
  'zeroKeyMaterial',
  'persistentKeepalive',
];

export class Timers {
  private readonly deadlines = new Map<TimerName, number>();
  private readonly random: () => number;
  private readonly armed: (at: number) => void;
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;

  constructor(random: () => number, armed: (at: number) => void = () => {}) {
    this.random = random;
    this.armed = armed;
  }

  isPending(name: TimerName): boolean {
    return this.deadlines.has(name);
  }

  deadline(name: TimerName): number | undefined {
    return this.deadlines.get(name);
  }

  set(name: TimerName, at: number): void {
    this.deadlines.set(name, at);
    this.armed(at);
  }

  /** The earliest pending deadline, or undefined when none is. */
  next(): number | undefined {
    let next: number | undefined;
    for (const at of this.deadlines.values()) if (next === undefined || at < next) next = at;
    return next;
  }

  stop(name: TimerName): void {
    this.deadlines.delete(name);
  }

  stopAll(): void {
    this.deadlines.clear();
  }

  /** Removes and returns the timers due at `now`, in a fixed order. */
  expired(now: number): TimerName[] {
    const due: TimerName[] = [];
    for (const name of TIMER_NAMES) {
      const at = this.deadlines.get(name);
      if (at !== undefined && at <= now) {
        this.deadlines.delete(name);
        due.push(name);
      }
    }
    return due;
  }

  private jitter(): number {
    return Math.floor(this.random() * REKEY_TIMEOUT_JITTER_MAX);
  }

  handshakeInitiated(now: number): void {
    this.set('retransmitHandshake', now + REKEY_TIMEOUT + this.jitter());
  }

  handshakeComplete(): void {
    this.stop('retransmitHandshake');
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  sessionDerived(now: number): void {
    this.set('zeroKeyMaterial', now + ZERO_KEY_MATERIAL_AFTER);
  }

  anyAuthenticatedPacketTraversal(now: number, persistentKeepaliveSeconds: number): void {
    if (persistentKeepaliveSeconds > 0)
      this.set('persistentKeepalive', now + persistentKeepaliveSeconds * 1000);
  }

  anyAuthenticatedPacketSent(): void {
    this.stop('sendKeepalive');
  }

  anyAuthenticatedPacketReceived(): void {
    this.stop('newHandshake');
  }

  dataSent(now: number): void {
    if (!this.isPending('newHandshake'))
      this.set('newHandshake', now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.jitter());
  }

  dataReceived(now: number): void {
    if (!this.isPending('sendKeepalive')) this.set('sendKeepalive', now + KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }
}
