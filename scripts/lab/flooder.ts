// A handshake flooder for `npm run bench:flood`: sends WireGuard handshake initiations to a target as
// fast as one Node process can, for a bounded time, then prints how many it sent. Run it in the
// lab's flooder namespace, never at anything but the lab's documentation addresses.
//   node scripts/lab/flooder.ts HOST PORT SECONDS [random|mac1 RESPONDER_PUBLIC_KEY_BASE64]
// random: 148 bytes of noise behind the initiation type (fails mac1, the cheapest check);
// mac1: noise with a valid mac1 for the responder's public key (what an attacker who knows the key
// can send: it passes mac1 and must go through the handshake queue and the cookie logic).

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { blake2s } from '@noble/hashes/blake2.js';

const [host = '', portText = '', secondsText = '', mode = 'random', publicKey = ''] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
if (!isIP(host) || !(port > 0) || !(seconds > 0 && seconds <= 120)) {
  console.error('usage: flooder.ts HOST PORT SECONDS(<=120) [random|mac1 PUBLIC_KEY]');
  process.exit(2);
}

const POOL = 4096;
const pool: Buffer[] = [];
const mac1Key =
  mode === 'mac1'
    ? blake2s(Buffer.concat([Buffer.from('mac1----'), Buffer.from(publicKey, 'base64')]))
    : null;
for (let i = 0; i < POOL; i++) {
  const packet = randomBytes(148);
  packet.writeUInt32LE(1, 0);
  if (mac1Key) packet.set(blake2s(packet.subarray(0, 116), { key: mac1Key, dkLen: 16 }), 116);
  packet.fill(0, 132);
  pool.push(packet);
}

const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
socket.on('error', () => {});
socket.connect(port, host, () => {
  let sent = 0;
  let inFlight = 0;
  const end = performance.now() + seconds * 1000;
  const done = () => inFlight--;
  const burst = () => {
    if (performance.now() >= end) {
      console.log(`sent ${sent} in ${seconds} s (${Math.round(sent / seconds)}/s)`);
      socket.close();
      return;
    }
    // Keep libuv's send queue short: a burst, then a turn of the event loop.
    for (let i = 0; i < 256 && inFlight < 4096; i++, sent++, inFlight++)
      socket.send(pool[sent % POOL]!, done);
    setImmediate(burst);
  };
  burst();
});
