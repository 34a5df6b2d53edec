// The runtime's floor for latency: a TUN <-> UDP forwarder with nothing of WireGuard but its cipher.
// Each packet read from the TUN is sealed with ChaCha20-Poly1305 (the helper's own transport cipher,
// OpenSSL's EVP through koffi) and sent to the other end, which opens it and writes it to its TUN. The
// wake-ups are the helper's too (koffi's poll on libuv's loop), and so are the libc calls; no
// handshake, no timers, no routing table, no batching. `npm run bench:throughput` runs one at each end
// of the namespace pair and pings through them: what that adds is what Node, koffi and OpenSSL cost a
// lone packet before any protocol work (docs/performance.md, "Latency").
//
//   node scripts/lab/bare-forwarder.ts TUN-NAME LOCAL-PORT PEER-IPV4 PEER-PORT
//
// It creates the TUN (non-persistent, plain: no virtio_net_hdr), prints "ready", and forwards until it
// is killed. Both ends use one fixed key: this is a measuring tool, never a tunnel.

import koffi from 'koffi';
import { libc, SOCK_DGRAM, SOCK_NONBLOCK, watchReadable } from '../../helper/src/libc_linux.ts';
import { TAG_SIZE, transportCipher } from '../../helper/src/wireguard/transport-cipher.ts';
import { createTunFd } from '../../helper/src/tun/tun_linux.ts';
import { AF_INET, SOCKADDR_MAX, writeSockaddr } from '../../helper/src/conn/sockaddr_linux.ts';

const COUNTER_SIZE = 8;
const MAX_PACKET = 65535;

const [name, localPort, peerAddress, peerPort] = process.argv.slice(2);
if (!name || !localPort || !peerAddress || !peerPort)
  throw new Error('usage: bare-forwarder.ts TUN-NAME LOCAL-PORT PEER-IPV4 PEER-PORT');

const c = libc();
const tun = createTunFd(name, { virtioHeader: false });

const socket = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
const local = Buffer.alloc(SOCKADDR_MAX);
const localLength = writeSockaddr(local, 4, new Uint8Array(4), Number(localPort));
if (socket < 0 || c.bind(socket, local, localLength) < 0)
  throw new Error(`binding UDP port ${localPort} failed: errno ${koffi.errno()}`);
const peer = Buffer.alloc(SOCKADDR_MAX);
const peerLength = writeSockaddr(
  peer,
  4,
  new Uint8Array(peerAddress.split('.').map(Number)),
  Number(peerPort),
);

const key = new Uint8Array(32).fill(7);
const sealer = transportCipher(key, 'seal');
const opener = transportCipher(key, 'open');
const up = Buffer.alloc(COUNTER_SIZE + MAX_PACKET + TAG_SIZE);
const down = Buffer.alloc(COUNTER_SIZE + MAX_PACKET + TAG_SIZE);
let counter = 0n;

function fromTun(): void {
  for (;;) {
    const length = c.read(tun, up.subarray(COUNTER_SIZE), MAX_PACKET);
    if (length <= 0) return;
    up.writeBigUInt64LE(counter, 0);
    const end = COUNTER_SIZE + length;
    sealer.seal(counter++, up.subarray(COUNTER_SIZE, end), up.subarray(end, end + TAG_SIZE));
    c.sendto(socket, up, end + TAG_SIZE, 0, peer, peerLength);
  }
}

function fromUdp(): void {
  for (;;) {
    const length = c.read(socket, down, down.length);
    // EAGAIN: drained. Any other error is not worth a measuring tool's retry.
    if (length < 0) return;
    if (length < COUNTER_SIZE + TAG_SIZE) continue;
    const end = length - TAG_SIZE;
    const body = down.subarray(COUNTER_SIZE, end);
    if (opener.open(down.readBigUInt64LE(0), body, down.subarray(end, length)))
      c.write(tun, body, body.length);
  }
}

// Kept referenced: a poll handle that is garbage stops watching.
const watches = [watchReadable(tun, fromTun), watchReadable(socket, fromUdp)];
process.on('SIGTERM', () => {
  for (const watch of watches) watch.close();
  process.exit(0);
});
console.log('ready');
