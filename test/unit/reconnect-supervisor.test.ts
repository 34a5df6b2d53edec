import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Connection,
  CONNECT_TIMEOUT,
  RETRY_CAP,
  type ConnectionStatus,
} from '../../helper/src/tunnel/reconnect-supervisor.ts';
import { DevicePair } from '../lib/device-pair.ts';

const INITIATION = 1;

async function setup() {
  const pair = await DevicePair.create();
  let wallOffset = 0;
  const changes: ConnectionStatus[] = [];
  let reresolved = 0;
  const connection = new Connection({
    device: pair.a,
    reresolve: async () => {
      reresolved++;
    },
    onChange: (status) => changes.push(status),
    log: () => {},
    now: () => pair.now,
    wallClock: () => 1_700_000_000_000 + pair.now + wallOffset,
    random: () => 0.5,
  });
  /** Runs the clock for `ms`, checking the connection every second as the service does. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      pair.advance(1000);
      connection.check();
    }
  };
  return {
    pair,
    connection,
    changes,
    run,
    sleep: (ms: number) => (wallOffset += ms),
    reresolved: () => reresolved,
  };
}

test('connects: connecting, then connected once a handshake completes', async () => {
  const { pair, connection, run } = await setup();
  assert.equal(connection.current.state, 'connecting');
  pair.sendFromA();
  run(1000);
  assert.equal(connection.current.state, 'connected');
});

test('no answer: reconnecting with growing, capped delays and a reason naming the endpoint', async () => {
  const { pair, connection, changes, run, reresolved } = await setup();
  pair.linkUp = false;
  pair.sendFromA();
  run(CONNECT_TIMEOUT + 1000);
  assert.equal(connection.current.state, 'reconnecting');
  assert.match(
    connection.current.reason!,
    /Handshake did not complete: no answer from 198\.51\.100\.2:51002 for 2\d s/,
  );
  run(10 * 60_000);
  const delays = changes.filter((s) => s.state === 'reconnecting').map((s) => s.nextRetrySeconds!);
  const attempts = changes.filter((s) => s.state === 'reconnecting').map((s) => s.attempt!);
  assert.deepEqual(delays.slice(0, 6), [2, 4, 8, 16, 32, 60]);
  assert.ok(delays.every((d) => d <= RETRY_CAP / 1000));
  assert.deepEqual(attempts.slice(0, 4), [1, 2, 3, 4]);
  assert.ok(reresolved() >= 5, 'endpoints are resolved again before each retry');
  assert.ok(pair.sentBy('a', INITIATION).length > 20, 'it keeps trying beyond WireGuard’s own 90 s');

  pair.linkUp = true;
  run(RETRY_CAP + 2000);
  assert.equal(connection.current.state, 'connected', 'recovers when the peer answers again');
});

test('a connected tunnel whose peer stops answering goes to reconnecting', async () => {
  const { pair, connection, run } = await setup();
  pair.sendFromA();
  run(1000);
  pair.linkUp = false;
  pair.sendFromA();
  // No reply for 15 s starts a handshake; unanswered for 20 s more, the tunnel is reconnecting.
  run(30_000);
  assert.equal(connection.current.state, 'connected', 'still within the grace period');
  run(10_000);
  assert.equal(connection.current.state, 'reconnecting');
  assert.match(connection.current.reason!, /no answer from 198\.51\.100\.2:51002/);
});

test('waking from sleep or a network change retries at once', async () => {
  const { pair, connection, run, sleep } = await setup();
  pair.linkUp = false;
  pair.sendFromA();
  run(CONNECT_TIMEOUT + 5000);
  const before = pair.sentBy('a', INITIATION).length;
  sleep(3_600_000);
  connection.check();
  assert.equal(pair.sentBy('a', INITIATION).length, before + 1, 'a handshake right after resume');
  connection.networkChanged();
  assert.equal(pair.sentBy('a', INITIATION).length, before + 2, 'and right after a network change');
  assert.equal(connection.current.attempt, 1, 'the backoff starts over');
});
