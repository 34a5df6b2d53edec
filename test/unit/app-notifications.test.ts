// When the app shows a system notification: the pure rules of app/main/notifications.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TunnelState, TunnelStatus } from '../../shared/src/control/protocol.ts';
import type { HelperConnection } from '../../shared/src/ipc/schema.ts';
import { helperNotification, tunnelNotification } from '../../app/main/notifications.ts';

const helper: HelperConnection = { state: 'connected', canFix: false };

function status(state: TunnelState, extra: Partial<TunnelStatus> = {}): TunnelStatus {
  return { name: 'office', state, interfaceAddresses: [], rxBytes: 0, txBytes: 0, peers: [], ...extra };
}

test('connected: once, when the tunnel comes up', () => {
  assert.deepEqual(
    tunnelNotification(status('connecting'), status('connected', { endpoint: '192.0.2.1:51820' }), helper),
    {
      title: 'Connected to office',
      body: 'Through 192.0.2.1:51820.',
      tunnel: 'office',
    },
  );
  assert.deepEqual(tunnelNotification(undefined, status('connected'), helper), {
    title: 'Connected to office',
    body: 'The tunnel is up.',
    tunnel: 'office',
  });
  // Stats every second repeat the state: no news.
  assert.equal(tunnelNotification(status('connected'), status('connected', { rxBytes: 10 }), helper), null);
  // Back after a reconnect is news again.
  assert.equal(
    tunnelNotification(status('reconnecting'), status('connected'), helper)?.title,
    'Connected to office',
  );
});

test('reconnecting: the first attempt only, with its number and reason', () => {
  const first = status('reconnecting', {
    attempt: 1,
    reason: 'Handshake did not complete: no answer for 20 s',
  });
  assert.deepEqual(tunnelNotification(status('connected'), first, helper), {
    title: 'Reconnecting to office (attempt 1)',
    body: 'Handshake did not complete: no answer for 20 s',
    tunnel: 'office',
  });
  assert.equal(tunnelNotification(first, status('reconnecting', { attempt: 2 }), helper), null);
  assert.equal(tunnelNotification(first, status('reconnecting', { attempt: 3 }), helper), null);
});

test('an error after being up is unexpected; a disconnect someone asked for is not', () => {
  assert.deepEqual(
    tunnelNotification(status('connected'), status('error', { reason: 'The tunnel failed: gone' }), helper),
    {
      title: 'office disconnected unexpectedly',
      body: 'The tunnel failed: gone',
      tunnel: 'office',
    },
  );
  assert.equal(
    tunnelNotification(status('reconnecting'), status('error'), helper)?.title,
    'office disconnected unexpectedly',
  );
  assert.equal(tunnelNotification(status('connected'), status('disconnected'), helper), null);
  assert.equal(tunnelNotification(status('connected'), status('disconnecting'), helper), null);
  // A connect that failed is shown where it was asked for, not as a disconnect.
  assert.equal(tunnelNotification(status('connecting'), status('error'), helper), null);
  assert.equal(tunnelNotification(undefined, status('connecting'), helper), null);
});

test('nothing about tunnels while the helper itself is not connected', () => {
  const gone: HelperConnection = { state: 'unavailable', message: 'x', canFix: true };
  assert.equal(tunnelNotification(status('connecting'), status('connected'), gone), null);
  assert.equal(tunnelNotification(status('connected'), status('error'), gone), null);
});

test('the helper: only losing one that was there', () => {
  const unavailable: HelperConnection = {
    state: 'unavailable',
    message: 'The PhantomMesh helper is not running.',
    canFix: true,
  };
  assert.deepEqual(helperNotification('connected', unavailable), {
    title: 'PhantomMesh helper unavailable',
    body: 'The PhantomMesh helper is not running.',
  });
  assert.equal(
    helperNotification('connected', { state: 'out-of-date', message: 'old', canFix: false })?.body,
    'old',
  );
  assert.equal(helperNotification('connected', { state: 'connecting', canFix: false }), null);
  assert.equal(helperNotification('connected', helper), null);
  // At start-up the window says why there is no helper; no notification on top.
  assert.equal(helperNotification(undefined, unavailable), null);
  assert.equal(helperNotification('unavailable', unavailable), null);
});
