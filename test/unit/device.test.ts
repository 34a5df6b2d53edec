import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  KEEPALIVE_TIMEOUT,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  ZERO_KEY_MATERIAL_AFTER,
} from '../../helper/src/wireguard/constants.ts';
import { DeviceConfigError } from '../../helper/src/wireguard/config.ts';
import { Device } from '../../helper/src/wireguard/device.ts';
import { DevicePair, ENDPOINT_A, ipv4, randomPacket } from '../lib/device-pair.ts';

const INITIATION = 1;
const RESPONSE = 2;
const COOKIE = 3;
const TRANSPORT = 4;

async function connected(options = {}) {
  const pair = await DevicePair.create(options);
  pair.sendFromA();
  return pair;
}

test('a packet to a peer triggers a handshake and arrives decrypted on the other side', async () => {
  const pair = await connected();
  assert.equal(pair.sentBy('a', INITIATION).length, 1);
  assert.equal(pair.sentBy('b', RESPONSE).length, 1);
  assert.equal(pair.tunB.length, 1, 'the staged packet went out after the handshake');
  assert.deepEqual(pair.tunB[0], ipv4('192.0.2.1', '192.0.2.2'));
  pair.sendFromB(100);
  assert.deepEqual(pair.tunA[0], ipv4('192.0.2.2', '192.0.2.1', 100), 'padding is stripped');
  assert.ok(pair.peerOfA.lastHandshakeWallMs > 0);
  assert.ok(pair.peerOfB.lastHandshakeWallMs > 0, 'responder completes on the first transport packet');
  assert.deepEqual(pair.peerOfB.endpoint, ENDPOINT_A, 'the responder learned the endpoint');
});

test('transport messages are padded to 16 bytes', async () => {
  const pair = await connected();
  const lengths = pair.sentBy('a', TRANSPORT).map((s) => s.packet.length - 32);
  assert.ok(
    lengths.every((n) => n % 16 === 0),
    `plaintext lengths ${lengths}`,
  );
});

test('cryptokey routing: a packet with a source the peer does not own is dropped', async () => {
  const pair = await connected();
  pair.b.sendPacket(ipv4('192.0.2.2', '192.0.2.1'), pair.now);
  const spoofed = ipv4('192.0.2.99', '192.0.2.1');
  // B may only send to A what B routes to A, but A must also check the inner source.
  pair.b.allowedIps.insert(Buffer.from([192, 0, 2, 1]), 32, pair.peerOfB);
  pair.b.sendPacket(spoofed, pair.now);
  pair.deliver();
  assert.equal(pair.tunA.length, 1);
  assert.equal(pair.a.stats.droppedBy.get('sourceNotAllowed'), 1);
});

test('a packet with no route is dropped and counted', async () => {
  const pair = await connected();
  pair.a.sendPacket(ipv4('192.0.2.1', '198.18.0.1'), pair.now);
  assert.equal(pair.a.stats.droppedBy.get('noRoute'), 1);
});

test('the initiator rekeys after REKEY_AFTER_TIME when it sends', async () => {
  const pair = await connected();
  pair.advance(REKEY_AFTER_TIME - 1000);
  pair.sendFromA();
  assert.equal(pair.sentBy('a', INITIATION).length, 1, 'no rekey before 120 s');
  pair.advance(2000);
  pair.sendFromA();
  assert.equal(pair.sentBy('a', INITIATION).length, 2, 'rekey after 120 s');
  assert.equal(pair.sentBy('b', RESPONSE).length, 2);
  pair.sendFromA();
  assert.equal(pair.tunB.length, 4, 'traffic continues across the rekey');
});

test('the responder never rekeys on time; a session is refused after REJECT_AFTER_TIME', async () => {
  const pair = await connected();
  pair.linkUp = false;
  pair.advance(REJECT_AFTER_TIME + 1000);
  const before = pair.sentBy('b', TRANSPORT).length;
  pair.sendFromB();
  assert.equal(pair.sentBy('b', TRANSPORT).length, before, 'expired keys are not used');
  assert.equal(pair.sentBy('b', INITIATION).length, 1, 'a fresh handshake starts instead');
});

test('handshake retries every 5 s plus jitter, then gives up and flushes staged packets', async () => {
  const pair = await DevicePair.create();
  pair.linkUp = false;
  pair.sendFromA();
  pair.advance(120_000);
  const times = pair.sentBy('a', INITIATION).map((s) => s.at);
  assert.equal(times.length, 20, 'the first initiation and 19 retries, as wireguard-go');
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    assert.ok(gap >= REKEY_TIMEOUT && gap <= REKEY_TIMEOUT + 400, `gap ${gap}`);
  }
  assert.ok(times.at(-1)! >= 90_000);
  assert.equal(pair.peerOfA.staged.length, 0);
  assert.equal(pair.a.stats.droppedBy.get('stagedFlushed'), 1);
});

test('key material is zeroed 540 s after the last session', async () => {
  const pair = await connected();
  const keypair = pair.peerOfA.keypairs.current!;
  pair.linkUp = false;
  pair.advance(ZERO_KEY_MATERIAL_AFTER + 200);
  assert.equal(pair.peerOfA.keypairs.current, null);
  assert.ok(
    keypair.sendKey.every((b) => b === 0),
    'the key bytes were wiped',
  );
  assert.equal(pair.a.indexTable.size, 0);
});

test('a passive keepalive follows received data after 10 s of silence', async () => {
  const pair = await connected();
  const before = pair.sentBy('b', TRANSPORT).length;
  pair.advance(KEEPALIVE_TIMEOUT - 200);
  assert.equal(pair.sentBy('b', TRANSPORT).length, before);
  pair.advance(400);
  const keepalives = pair.sentBy('b', TRANSPORT).slice(before);
  assert.equal(keepalives.length, 1);
  assert.equal(keepalives[0]!.packet.length, 32, 'an empty transport message');
});

test('a new handshake starts ~15 s after sending data with no reply', async () => {
  const pair = await connected();
  // B's passive keepalive at 10 s answers the first packet and disarms the timer.
  pair.advance(KEEPALIVE_TIMEOUT + 1000);
  pair.linkUp = false;
  pair.sendFromA();
  const sentAt = pair.now;
  pair.advance(20_000);
  const next = pair.sentBy('a', INITIATION)[1];
  assert.ok(next, 'a second initiation');
  const delay = next.at - sentAt;
  assert.ok(
    delay >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT && delay <= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 400,
    `${delay}`,
  );
});

test('persistent keepalive: a handshake at interface up, then a keepalive every interval', async () => {
  const pair = await DevicePair.create({ persistentKeepaliveA: 25 });
  pair.a.up(pair.now);
  pair.deliver();
  assert.equal(pair.sentBy('a', INITIATION).length, 1, 'initiation at interface up without traffic');
  assert.ok(pair.peerOfB.lastHandshakeWallMs > 0, 'confirmed by the first keepalive');
  const before = pair.sentBy('a', TRANSPORT).length;
  pair.advance(25_100);
  assert.equal(pair.sentBy('a', TRANSPORT).length, before + 1);
  pair.advance(25_000);
  assert.equal(pair.sentBy('a', TRANSPORT).length, before + 2);
});

test('under load the responder demands a cookie, and the retry with mac2 succeeds', async () => {
  const pair = await DevicePair.create({ b: { underLoadThreshold: 0 } });
  pair.sendFromA();
  assert.equal(pair.sentBy('b', COOKIE).length, 1, 'a cookie reply instead of a response');
  assert.equal(pair.sentBy('b', RESPONSE).length, 0);
  pair.advance(REKEY_TIMEOUT + 500);
  assert.equal(pair.sentBy('a', INITIATION).length, 2, 'the retry');
  assert.equal(pair.sentBy('b', RESPONSE).length, 1, 'accepted thanks to mac2');
  assert.equal(pair.tunB.length, 1);
});

test('a wrong preshared key never completes a handshake', async () => {
  const pair = await DevicePair.create();
  pair.peerOfB.handshake.presharedKey = randomBytes(32);
  pair.sendFromA();
  assert.equal(pair.sentBy('b', RESPONSE).length, 1);
  assert.equal(pair.peerOfA.keypairs.current, null);
  assert.equal(pair.a.stats.droppedBy.get('invalidHandshake'), 1);
});

test('changing the PSK keeps the running session and applies at the next handshake', async () => {
  const pair = await connected();
  const psk = randomBytes(32);
  for (const [device, peer] of [
    [pair.a, pair.peerOfA],
    [pair.b, pair.peerOfB],
  ] as const) {
    await device.apply(
      {
        replacePeers: false,
        peers: [
          {
            publicKey: peer.publicKey,
            remove: false,
            updateOnly: true,
            presharedKey: psk,
            replaceAllowedIps: false,
            addAllowedIps: [],
            removeAllowedIps: [],
          },
        ],
      },
      pair.now,
    );
  }
  pair.sendFromA();
  assert.equal(pair.tunB.length, 2, 'the session survived');
  pair.advance(REKEY_AFTER_TIME + 1000);
  pair.sendFromA();
  assert.equal(pair.sentBy('b', RESPONSE).length, 2, 'the rekey with the new PSK succeeded');
  assert.equal(pair.tunB.length, 3);
});

test('replayed transport packets are dropped', async () => {
  const pair = await connected();
  const transport = pair.sentBy('a', TRANSPORT)[0]!.packet;
  pair.b.receiveDatagram(transport, ENDPOINT_A, pair.now);
  assert.equal(pair.tunB.length, 1);
  assert.equal(pair.b.stats.droppedBy.get('replayed'), 1);
});

test('100k random and mutated datagrams: nothing throws, nothing changes, all are counted', async () => {
  const pair = await connected();
  pair.sendFromB();
  const valid = [
    pair.sentBy('a', INITIATION)[0]!.packet,
    pair.sentBy('b', RESPONSE)[0]!.packet,
    ...pair.sentBy('a', TRANSPORT).map((s) => s.packet),
    ...pair.sentBy('b', TRANSPORT).map((s) => s.packet),
  ];
  const mutate = (packet: Buffer): Buffer => {
    const copy = Buffer.from(packet);
    switch (Math.floor(Math.random() * 5)) {
      case 0:
        return copy.subarray(0, Math.floor(Math.random() * copy.length));
      case 1:
        copy[Math.floor(Math.random() * copy.length)]! ^= 1 << Math.floor(Math.random() * 8);
        return copy;
      case 2:
        copy[0] = Math.floor(Math.random() * 8);
        return copy;
      case 3:
        return Buffer.concat([copy, randomBytes(1 + Math.floor(Math.random() * 64))]);
      default:
        return copy; // an exact replay
    }
  };
  const target = pair.b;
  const peer = pair.peerOfB;
  const before = {
    dropped: target.stats.dropped,
    rx: peer.rxBytes,
    tx: peer.txBytes,
    current: peer.keypairs.current,
    nonce: peer.keypairs.current!.sendNonce,
    endpoint: peer.endpoint,
    tun: pair.tunB.length,
    sent: pair.sent.length,
  };
  const count = 100_000;
  for (let i = 0; i < count; i++) {
    const packet = i % 2 === 0 ? randomPacket(200) : mutate(valid[i % valid.length]!);
    target.receiveDatagram(packet, { address: '203.0.113.7', port: 9, family: 4 }, pair.now);
  }
  assert.equal(target.stats.dropped - before.dropped, count, 'every datagram counted as dropped');
  assert.equal(peer.rxBytes, before.rx);
  assert.equal(peer.txBytes, before.tx);
  assert.equal(peer.keypairs.current, before.current);
  assert.equal(peer.keypairs.current!.sendNonce, before.nonce);
  assert.deepEqual(peer.endpoint, before.endpoint, 'no roaming to a forger');
  assert.equal(pair.tunB.length, before.tun);
  const replies = pair.sent.slice(before.sent);
  assert.ok(
    replies.every((s) => s.packet.readUInt32LE(0) === COOKIE),
    'at most cookie replies went out',
  );
  pair.sendFromA();
  assert.equal(pair.tunB.length, before.tun + 1, 'the tunnel still works');
});

test('a change the device cannot apply fails with a DeviceConfigError naming why', async () => {
  const device = new Device({
    wallClock: () => 0,
    io: {
      sendDatagram: () => {},
      writeTun: () => {},
      setListenPort: async () => {
        throw new Error('EADDRINUSE');
      },
      setFwmark: () => {},
    },
  });
  await assert.rejects(
    device.apply({ listenPort: 51820, replacePeers: false, peers: [] }, 0),
    (error: unknown) => error instanceof DeviceConfigError && error.code === 'ADDRESS_IN_USE',
  );
  const peer = {
    publicKey: randomBytes(32),
    remove: false,
    updateOnly: false,
    replaceAllowedIps: false,
    addAllowedIps: [{ address: 'not-an-address', bits: 32, family: 4 as const }],
    removeAllowedIps: [],
  };
  await assert.rejects(
    device.apply({ replacePeers: false, peers: [peer] }, 0),
    (error: unknown) => error instanceof DeviceConfigError && error.code === 'INVALID',
  );
  assert.equal(device.listenPort, 0);
});

test('answers are counted apart: a peer initiation answers nothing, a response and data do', async () => {
  const pair = await DevicePair.create();
  // A's initiation reaches B; B's response is lost (only B's way out is blocked).
  pair.a.sendPacket(ipv4('192.0.2.1', '192.0.2.2'), pair.now);
  const initiation = pair.inFlight.shift()!;
  pair.b.receiveDatagram(Buffer.from(initiation.packet), ENDPOINT_A, pair.now);
  assert.ok(pair.peerOfB.rxBytes > 0n, 'B authenticated the initiation');
  assert.equal(pair.peerOfB.answersReceived, 0, 'A reaching B says nothing of B reaching A');
  // The response gets through: it answers A's initiation; A's first data answers B's response.
  pair.deliver();
  assert.equal(pair.peerOfA.answersReceived, 1, "B's response");
  assert.equal(pair.peerOfB.answersReceived, 1, "A's staged data after the response");
  pair.sendFromB();
  assert.equal(pair.peerOfA.answersReceived, 2, 'each data packet is an answer');
});
