// Formatting for people: byte counts, rates, ages and tunnel states. Pure (no DOM), unit-tested in
// test/unit/renderer-format.test.ts.

import type { TunnelState } from '../../../../shared/src/control/protocol.ts';
import { strings } from '../strings.ts';
import type { ShownState } from './peers.ts';

/** Binary units, as `wg show` prints them: 0 B, 1023 B, 1.00 KiB, 12.3 MiB, 456 GiB. */
export function formatBytes(bytes: number): string {
  const units = strings.units.bytes;
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} ${units[0]}`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Bytes per second, e.g. "1.20 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return strings.units.perSecond(formatBytes(bytesPerSecond));
}

/**
 * How long ago `then` was, like WireGuard's apps: "12 seconds ago", "1 minute, 5 seconds ago",
 * "2 hours, 3 minutes ago". Clocks a little ahead read as "Just now".
 */
export function formatAge(then: number, now: number): string {
  const total = Math.floor((now - then) / 1000);
  if (total <= 0) return strings.age.justNow;
  const { age } = strings;
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  let text: string;
  if (days > 0) text = hours > 0 ? age.join(age.days(days), age.hours(hours)) : age.days(days);
  else if (hours > 0)
    text = minutes > 0 ? age.join(age.hours(hours), age.minutes(minutes)) : age.hours(hours);
  else if (minutes > 0)
    text = seconds > 0 ? age.join(age.minutes(minutes), age.seconds(seconds)) : age.minutes(minutes);
  else text = age.seconds(seconds);
  return age.ago(text);
}

/** Whole seconds left until `deadline`, never negative. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** The words for a tunnel's state; a reconnect with its attempt reads "Reconnecting (attempt 2, next in 8 s)". */
export function stateText(state: ShownState, retry?: { attempt: number; seconds: number }): string {
  if (state === 'reconnecting' && retry)
    return strings.state.reconnectingAttempt(retry.attempt, retry.seconds);
  return strings.state[state];
}

/** True while the helper holds the tunnel up (the button then reads Disconnect). */
export function isActive(state: TunnelState): boolean {
  return (
    state === 'connecting' || state === 'connected' || state === 'reconnecting' || state === 'disconnecting'
  );
}

/** A key shortened for lists: "ABCD…WXY=". */
export function shortKey(key: string): string {
  return key.length > 16 ? `${key.slice(0, 8)}…${key.slice(-8)}` : key;
}

/** "12:03:04" in the local time zone, for log lines. */
export function formatClock(time: number): string {
  const date = new Date(time);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
