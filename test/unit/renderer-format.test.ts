// The renderer's formatting for people: bytes, rates, ages, states (app/renderer/src/lib/format.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatAge,
  formatBytes,
  formatRate,
  isActive,
  secondsLeft,
  shortKey,
  stateText,
} from '../../app/renderer/src/lib/format.ts';
import { moveIndex } from '../../app/renderer/src/lib/keyboard.ts';
import { retryFor } from '../../app/renderer/src/lib/status.ts';

test('bytes use binary units with three significant digits', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(12.34 * 1024 * 1024), '12.3 MiB');
  assert.equal(formatBytes(456 * 1024 ** 3), '456 GiB');
  assert.equal(formatBytes(5 * 1024 ** 5), '5120 TiB');
  assert.equal(formatBytes(-5), '0 B');
});

test('rates are bytes per second', () => {
  assert.equal(formatRate(0), '0 B/s');
  assert.equal(formatRate(1.2 * 1024 * 1024), '1.20 MiB/s');
});

test('handshake ages read like the WireGuard apps', () => {
  const now = 1_700_000_000_000;
  assert.equal(formatAge(now - 12_000, now), '12 seconds ago');
  assert.equal(formatAge(now - 1_000, now), '1 second ago');
  assert.equal(formatAge(now - 1_999, now), '1 second ago');
  assert.equal(formatAge(now - 65_000, now), '1 minute, 5 seconds ago');
  assert.equal(formatAge(now - 120_000, now), '2 minutes ago');
  assert.equal(formatAge(now - (2 * 3600 + 3 * 60 + 9) * 1000, now), '2 hours, 3 minutes ago');
  assert.equal(formatAge(now - 3600_000, now), '1 hour ago');
  assert.equal(formatAge(now - (3 * 86400 + 4 * 3600) * 1000, now), '3 days, 4 hours ago');
  // A peer's clock a little ahead of ours.
  assert.equal(formatAge(now + 2_000, now), 'Just now');
  assert.equal(formatAge(now - 500, now), 'Just now');
});

test('the state line', () => {
  assert.equal(stateText('connected'), 'Connected');
  assert.equal(stateText('connecting'), 'Connecting…');
  assert.equal(stateText('disconnected'), 'Disconnected');
  assert.equal(stateText('reconnecting'), 'Reconnecting…');
  assert.equal(
    stateText('reconnecting', { attempt: 2, seconds: 8 }),
    'Reconnecting (attempt 2, next in 8 s)',
  );
  // Retry details only mean something while reconnecting.
  assert.equal(stateText('connected', { attempt: 2, seconds: 8 }), 'Connected');
});

test('the reconnect countdown rounds up and stops at zero', () => {
  assert.equal(secondsLeft(10_000, 2_000), 8);
  assert.equal(secondsLeft(10_000, 2_001), 8);
  assert.equal(secondsLeft(10_000, 2_999), 8);
  assert.equal(secondsLeft(10_000, 3_000), 7);
  assert.equal(secondsLeft(10_000, 12_000), 0);
});

test('active states are the ones the button disconnects', () => {
  assert.deepEqual(
    (['disconnected', 'connecting', 'connected', 'reconnecting', 'disconnecting', 'error'] as const).filter(
      isActive,
    ),
    ['connecting', 'connected', 'reconnecting', 'disconnecting'],
  );
});

test('keys shorten around an ellipsis', () => {
  assert.equal(shortKey('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='), 'xTIBA5rb…mZqp8Dg=');
  assert.equal(shortKey('short'), 'short');
});

test('the reconnect deadline is fixed per attempt, not reset by every stats event', () => {
  const base = { name: 'office', interfaceAddresses: [], rxBytes: 0, txBytes: 0, peers: [] };
  const reconnecting = { ...base, state: 'reconnecting' as const, attempt: 2, nextRetrySeconds: 8 };
  const first = retryFor(undefined, reconnecting, 1000);
  assert.deepEqual(first, { attempt: 2, deadline: 9000 });
  // The same attempt three seconds later: the countdown keeps running.
  const same = retryFor(first, reconnecting, 4000);
  assert.equal(same, first);
  assert.equal(
    stateText('reconnecting', { attempt: same!.attempt, seconds: secondsLeft(same!.deadline, 4000) }),
    'Reconnecting (attempt 2, next in 5 s)',
  );
  // The next attempt starts a new countdown.
  assert.deepEqual(retryFor(same, { ...reconnecting, attempt: 3, nextRetrySeconds: 16 }, 10_000), {
    attempt: 3,
    deadline: 26_000,
  });
  assert.equal(retryFor(same, { ...base, state: 'connected' }, 10_000), undefined);
  assert.equal(retryFor(undefined, { ...base, state: 'reconnecting' }, 10_000), undefined);
});

test('arrow keys move through tabs (wrapping) and list boxes (stopping at the ends)', () => {
  assert.equal(moveIndex('ArrowRight', 2, 3, 'horizontal'), 0);
  assert.equal(moveIndex('ArrowLeft', 0, 3, 'horizontal'), 2);
  assert.equal(moveIndex('ArrowDown', 2, 3, 'vertical'), 2);
  assert.equal(moveIndex('ArrowUp', 0, 3, 'vertical'), 0);
  assert.equal(moveIndex('ArrowDown', -1, 3, 'vertical'), 0);
  assert.equal(moveIndex('End', 0, 3, 'vertical'), 2);
  assert.equal(moveIndex('Home', 2, 3, 'horizontal'), 0);
  assert.equal(moveIndex('ArrowDown', 0, 3, 'horizontal'), null);
  assert.equal(moveIndex('a', 0, 3, 'vertical'), null);
  assert.equal(moveIndex('Home', 0, 0, 'vertical'), null);
});
