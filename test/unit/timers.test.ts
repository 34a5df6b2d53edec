import assert from 'node:assert/strict';
import test from 'node:test';
import { Timers } from '../../helper/src/wireguard/timers.ts';
import { KEEPALIVE_TIMEOUT, REKEY_TIMEOUT } from '../../helper/src/wireguard/constants.ts';

/** Timers without jitter that record every deadline they arm. */
function recordingTimers(): { timers: Timers; armed: number[] } {
  const armed: number[] = [];
  return {
    timers: new Timers(
      () => 0,
      (at) => armed.push(at),
    ),
    armed,
  };
}

test('deadlines: set, pending, the earliest, expired in a fixed order, stopped', () => {
  const { timers, armed } = recordingTimers();
  assert.equal(timers.next(), undefined);
  assert.equal(timers.isPending('sendKeepalive'), false);
  assert.equal(timers.deadline('sendKeepalive'), undefined);
  timers.dataReceived(1000);
  timers.dataSent(1000);
  timers.handshakeInitiated(2000);
  assert.deepEqual(armed, [
    1000 + KEEPALIVE_TIMEOUT,
    1000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT,
    2000 + REKEY_TIMEOUT,
  ]);
  assert.equal(timers.deadline('sendKeepalive'), 1000 + KEEPALIVE_TIMEOUT);
  assert.equal(timers.next(), 2000 + REKEY_TIMEOUT);
  // A second data packet while the keepalive is pending only asks for another one later.
  timers.dataReceived(1500);
  assert.equal(timers.deadline('sendKeepalive'), 1000 + KEEPALIVE_TIMEOUT);
  assert.equal(timers.needAnotherKeepalive, true);
  assert.deepEqual(timers.expired(1000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), [
    'retransmitHandshake',
    'sendKeepalive',
    'newHandshake',
  ]);
  assert.equal(timers.next(), undefined);
  assert.deepEqual(timers.expired(Number.MAX_SAFE_INTEGER), []);
  timers.sessionDerived(0);
  timers.anyAuthenticatedPacketTraversal(0, 25);
  assert.equal(timers.next(), 25_000);
  timers.stop('persistentKeepalive');
  assert.equal(timers.isPending('persistentKeepalive'), false);
  assert.equal(timers.isPending('zeroKeyMaterial'), true);
  timers.stopAll();
  assert.equal(timers.next(), undefined);
});

test('timers report every deadline they set, and the earliest pending one', () => {
  const { timers, armed } = recordingTimers();
  assert.equal(timers.next(), undefined);
  timers.dataReceived(100);
  timers.handshakeInitiated(50);
  assert.deepEqual(armed, [100 + KEEPALIVE_TIMEOUT, 50 + REKEY_TIMEOUT]);
  assert.equal(timers.next(), 50 + REKEY_TIMEOUT);
  timers.handshakeComplete();
  assert.equal(timers.next(), 100 + KEEPALIVE_TIMEOUT);
  timers.expired(100 + KEEPALIVE_TIMEOUT);
  assert.equal(timers.next(), undefined);
});
