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
/** Each timer's slot in a Timers' deadlines: its place in TIMER_NAMES. */
const SLOT = Object.fromEntries(TIMER_NAMES.map((name, slot) => [name, slot])) as Record<TimerName, number>;
const NOT_PENDING = Infinity;

export class Timers {
  // One slot per timer rather than a Map: deadlines are set and cleared on every packet, and a Map
  // boxed each one and churned its table, garbage that outlived the young generation and made the
  // helper's RSS climb ~8 MB between major collections at full speed (docs/performance.md).
  private readonly deadlines = new Float64Array(TIMER_NAMES.length).fill(NOT_PENDING);
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
    return this.deadlines[SLOT[name]] !== NOT_PENDING;
  }

  deadline(name: TimerName): number | undefined {
    const at = this.deadlines[SLOT[name]]!;
    return at === NOT_PENDING ? undefined : at;
  }

  set(name: TimerName, at: number): void {
    this.deadlines[SLOT[name]] = at;
    this.armed(at);
  }

  /** The earliest pending deadline, or undefined when none is. */
  next(): number | undefined {
    const next = Math.min(...this.deadlines);
    return next === NOT_PENDING ? undefined : next;
  }

  stop(name: TimerName): void {
    this.deadlines[SLOT[name]] = NOT_PENDING;
  }

  stopAll(): void {
    this.deadlines.fill(NOT_PENDING);
  }

  /** Removes and returns the timers due at `now`, in a fixed order. */
  expired(now: number): TimerName[] {
    const due: TimerName[] = [];
    for (let slot = 0; slot < TIMER_NAMES.length; slot++) {
      if (this.deadlines[slot]! <= now) {
        this.deadlines[slot] = NOT_PENDING;
        due.push(TIMER_NAMES[slot]!);
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
