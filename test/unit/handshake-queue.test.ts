import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../shared/src/ip.ts';
import { HandshakeQueue } from '../../helper/src/wireguard/handshake-queue.ts';
import { DevicePair, ENDPOINT_A } from '../lib/device-pair.ts';

// The bounded handshake queue: its bounds and drops, and how the device uses it. Fake clock only.

const INITIATION = 1;
const RESPONSE = 2;
const COOKIE = 3;
const FROM: Endpoint = { address: '203.0.113.7', port: 4000, family: 4 };

test('slots are made as the queue first fills: one chunk for a trickle, all of them after a flood, then no more', () => {
  const queue = new HandshakeQueue(1024, 128);
  assert.equal(queue.allocatedSlots, 0, 'nothing before the first message');
  for (let i = 0; i < 5000; i++) {
    assert.ok(queue.push(Buffer.alloc(148, i % 251), FROM, i));
    if (i % 2 === 1) {
      assert.deepEqual(queue.shift()!.packet, Buffer.alloc(148, (i - 1) % 251));
      assert.deepEqual(queue.shift()!.packet, Buffer.alloc(148, i % 251));
    }
  }
  assert.equal(
    queue.allocatedSlots,
    64,
    'a queue that never holds more than two messages keeps to one chunk',
  );
  for (let i = 0; i < 1024; i++) assert.ok(queue.push(Buffer.alloc(148, i % 251), FROM, i));
  assert.equal(queue.push(Buffer.alloc(148), FROM, 0), false, 'full at its capacity');
  assert.equal(queue.allocatedSlots, 1024);
  for (let i = 0; i < 1000; i++) assert.deepEqual(queue.shift()!.packet, Buffer.alloc(148, i % 251));
  for (let i = 0; i < 1000; i++)
    assert.ok(queue.push(Buffer.alloc(148, 7), FROM, i), 'wraps around the ring');
  assert.equal(queue.allocatedSlots, 1024, 'a second flood makes no more');
  for (let i = 1000; i < 1024; i++) assert.deepEqual(queue.shift()!.packet, Buffer.alloc(148, i % 251));
  assert.deepEqual(queue.shift()!.packet, Buffer.alloc(148, 7), 'in order across the wrap');
});

test('the queue keeps messages in order, copies them, and refuses pushes beyond its capacity', () => {
  const queue = new HandshakeQueue(3, 2);
  const message = (n: number) => Buffer.alloc(148, n);
  const first = message(1);
  assert.ok(queue.push(first, FROM, 10));
  first.fill(9);
  assert.ok(queue.push(message(2), FROM, 11));
  assert.equal(queue.underLoad, true, 'under load at 2 of 3');
  assert.ok(queue.push(message(3), FROM, 12));
  assert.equal(queue.push(message(4), FROM, 13), false, 'full');
  assert.equal(queue.length, 3);
  const got = queue.shift()!;
  assert.deepEqual(got.packet, message(1), 'a copy: the caller may reuse its buffer');
  assert.equal(got.received, 10);
  assert.equal(got.from, FROM);
  assert.ok(queue.push(Buffer.alloc(64, 5), FROM, 14), 'room again after a shift; wraps around');
  assert.deepEqual(
    [queue.shift()!.packet, queue.shift()!.packet, queue.shift()!.packet],
    [message(2), message(3), Buffer.alloc(64, 5)],
  );
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.underLoad, false);
  assert.equal(queue.push(Buffer.alloc(149), FROM, 15), false, 'nothing longer than an initiation');
  queue.push(message(6), FROM, 16);
  queue.clear();
  assert.equal(queue.length, 0);
});

/** A pair whose B queues handshakes until the test drains them; A's first initiation captured. */
async function queuedPair(options: { handshakeQueueSize?: number; underLoadQueueLength?: number } = {}) {
  let waiting = 0;
  const pair = await DevicePair.create({ b: { ...options, handshakesWaiting: () => waiting++ } });
  pair.linkUp = false;
  pair.a.sendPacket(Buffer.from(ipv4Packet()), pair.now);
  pair.linkUp = true;
  const initiation = pair.sentBy('a', INITIATION)[0]!.packet;
  return { pair, initiation, waiting: () => waiting };
}

function ipv4Packet(): Buffer {
  const packet = Buffer.alloc(40);
  packet[0] = 0x45;
  packet.writeUInt16BE(40, 2);
  packet[8] = 64;
  packet[9] = 17;
  Buffer.from([192, 0, 2, 1]).copy(packet, 12);
  Buffer.from([192, 0, 2, 2]).copy(packet, 16);
  return packet;
}

test('junk fails mac1 on the data path and is never queued', async () => {
  const { pair, waiting } = await queuedPair();
  for (let i = 0; i < 100; i++) {
    const junk = randomBytes(148);
    junk.writeUInt32LE(INITIATION, 0);
    pair.b.receiveDatagram(junk, FROM, pair.now);
  }
  assert.equal(pair.b.stats.droppedBy.get('invalidMac1'), 100);
  assert.equal(pair.b.pendingHandshakes, 0);
  assert.equal(waiting(), 0, 'the runner is not even woken');
  const reply = randomBytes(64);
  reply.writeUInt32LE(COOKIE, 0);
  pair.b.receiveDatagram(reply, FROM, pair.now);
  assert.equal(pair.b.stats.droppedBy.get('invalidCookieReply'), 1, 'a reply to no handshake of ours');
});

test('a valid initiation waits in the queue until drained; the runner is told once', async () => {
  const { pair, initiation, waiting } = await queuedPair();
  pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  assert.equal(pair.b.pendingHandshakes, 1);
  assert.equal(pair.sentBy('b', RESPONSE).length, 0, 'nothing done on the data path');
  assert.equal(waiting(), 1);
  assert.equal(pair.b.processHandshakes(pair.now, 8), 0);
  assert.equal(pair.sentBy('b', RESPONSE).length, 1);
  pair.deliver();
  assert.equal(pair.tunB.length, 1, 'the staged packet arrived after the handshake');
});

test('a full queue drops what does not fit, counted as handshakeQueueFull, and drains in slices', async () => {
  const { pair, initiation, waiting } = await queuedPair({ handshakeQueueSize: 4, underLoadQueueLength: 4 });
  for (let i = 0; i < 10; i++) pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  assert.equal(pair.b.pendingHandshakes, 4);
  assert.equal(pair.b.stats.droppedBy.get('handshakeQueueFull'), 6);
  assert.equal(waiting(), 1, 'told when the queue became non-empty, not per message');
  assert.equal(pair.b.processHandshakes(pair.now, 3), 1, 'a slice of 3 leaves 1');
  assert.equal(pair.b.processHandshakes(pair.now, 3), 0);
  // The first is answered (the queue was just below the threshold after it was taken), the replays
  // of the same initiation are refused by the replay check.
  assert.equal(pair.sentBy('b', RESPONSE).length, 1);
  assert.equal(pair.b.stats.droppedBy.get('invalidHandshake'), 3);
  pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  assert.equal(waiting(), 2, 'told again once the queue had emptied');
});

test('a backlog above the threshold puts the device under load: cookie replies, no X25519', async () => {
  const { pair, initiation } = await queuedPair({ handshakeQueueSize: 16, underLoadQueueLength: 4 });
  for (let i = 0; i < 8; i++) pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  pair.b.processHandshakes(pair.now);
  // One source gets the ratelimiter's burst of cookie replies (5), the rest nothing.
  assert.equal(pair.sentBy('b', COOKIE).length, 5, 'answered with cookie replies up to the burst');
  assert.equal(pair.sentBy('b', RESPONSE).length, 0);
  assert.equal(pair.b.stats.droppedBy.get('cookieSent'), 5);
  assert.equal(pair.b.stats.droppedBy.get('cookieRateLimited'), 3);
  // Under load lasts a second after the backlog; then a lone initiation is processed again.
  pair.now += 1001;
  pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  pair.b.processHandshakes(pair.now);
  assert.equal(pair.sentBy('b', RESPONSE).length, 1);
});

test('transport data flows while handshakes wait in a full queue', async () => {
  const { pair, initiation } = await queuedPair({ handshakeQueueSize: 8 });
  pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  pair.b.processHandshakes(pair.now);
  pair.deliver();
  assert.equal(pair.tunB.length, 1);
  for (let i = 0; i < 20; i++) pair.b.receiveDatagram(Buffer.from(initiation), ENDPOINT_A, pair.now);
  assert.equal(pair.b.pendingHandshakes, 8);
  pair.sendFromA();
  pair.sendFromA();
  assert.equal(pair.tunB.length, 3, 'decrypted at once, ahead of the waiting handshakes');
});
