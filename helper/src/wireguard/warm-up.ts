// A handshake and a few transport packets between two throwaway devices in memory, run once per
// process when its first WireGuard interface is made, before the device comes up (not at service
// start: a helper with no tunnel need not carry the compiled path): V8 compiles code on first use,
// and the first real handshake otherwise pays for compiling the handshake, the macs, the transport
// cipher and the data path (~6 ms of the ~7-9 ms it took). No network, no real clock, and no key
// that outlives the call.

import type { Endpoint } from '../../../shared/src/ip.ts';
import { parsePrefix } from '../../../shared/src/ip.ts';
import { generatePrivateKey, publicKeyOf } from './crypto.ts';
import { Device } from './device.ts';

const A: Endpoint = { address: '192.0.2.1', port: 1, family: 4 };
const B: Endpoint = { address: '192.0.2.2', port: 2, family: 4 };
// One round, not several: it compiles every function of the path to bytecode and primes its inline
// caches, which is what the first real handshake needed. Three rounds (until session 9) also had V8's
// baseline compiler take the hot functions, and measured worse: first handshake median 2.48-2.55 ms
// against 2.02 with one round (7 fresh tunnel pairs each, twice), and ~0.4 MB more RSS with a tunnel.

/** An IPv4/UDP packet from `source` to `destination` with `size` bytes of payload. */
function ipv4(source: number, destination: number, size: number): Buffer {
  const packet = Buffer.alloc(28 + size);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 17;
  packet.set([192, 0, 2, source], 12);
  packet.set([192, 0, 2, destination], 16);
  return packet;
}

export interface WarmUp {
  /** Handshakes completed and packets written to the in-memory TUNs: proof the path really ran. */
  handshakes: number;
  delivered: number;
}

/** Runs the handshake and data path each way between two devices in memory, once. */
export async function warmUp(): Promise<WarmUp> {
  let delivered = 0;
  const wire: Array<{ to: 'a' | 'b'; packet: Buffer }> = [];
  let now = 0;
  const device = (side: 'a' | 'b') =>
    new Device({
      wallClock: () => 1_700_000_000_000 + now,
      io: {
        sendDatagram: (packet) => wire.push({ to: side === 'a' ? 'b' : 'a', packet: Buffer.from(packet) }),
        writeTun: () => {
          delivered++;
        },
        setListenPort: async (port) => port,
        setFwmark: () => {},
      },
    });
  const a = device('a');
  const b = device('b');
  const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
  const peer = (key: Buffer, address: string, endpoint?: Endpoint) => ({
    publicKey: publicKeyOf(key),
    remove: false,
    updateOnly: false,
    presharedKey: null,
    ...(endpoint ? { endpoint } : {}),
    replaceAllowedIps: true,
    addAllowedIps: [parsePrefix(address)!],
    removeAllowedIps: [],
  });
  await a.apply({ privateKey: keyA, replacePeers: false, peers: [peer(keyB, '192.0.2.2/32', B)] }, now);
  await b.apply({ privateKey: keyB, replacePeers: false, peers: [peer(keyA, '192.0.2.1/32')] }, now);
  const deliver = () => {
    for (let guard = 0; wire.length > 0 && guard < 100; guard++) {
      const { to, packet } = wire.shift()!;
      if (to === 'a') a.receiveDatagram(packet, B, now);
      else b.receiveDatagram(packet, A, now);
    }
  };
  // A packet for b starts the handshake; the response, the confirmation and data follow.
  a.sendPacket(ipv4(1, 2, 64), now);
  deliver();
  for (let i = 0; i < 4; i++) {
    now += 1;
    a.sendPacket(ipv4(1, 2, 1200), now);
    b.sendPacket(ipv4(2, 1, 1200), now);
    deliver();
  }
  const handshakes = a.stats.handshakesCompleted;
  a.close();
  b.close();
  return { handshakes, delivered };
}

let once: Promise<WarmUp> | undefined;

/** warmUp, once per process: later callers wait for the same run. */
export function warmUpOnce(): Promise<WarmUp> {
  once ??= warmUp();
  return once;
}
