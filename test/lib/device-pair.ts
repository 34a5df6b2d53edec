// Two protocol devices wired back to back in memory, on a fake clock, so tests can drive the
// state machine (handshakes, timers, rekeys, cookies) step by step without sockets or sleeping.

import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../shared/src/ip.ts';
import { parsePrefix } from '../../shared/src/ip.ts';
import { generatePrivateKey, publicKeyOf } from '../../helper/src/wireguard/crypto.ts';
import { Device, type DeviceOptions } from '../../helper/src/wireguard/device.ts';
import type { Peer } from '../../helper/src/wireguard/peer.ts';

export const ENDPOINT_A: Endpoint = { address: '198.51.100.1', port: 51001, family: 4 };
export const ENDPOINT_B: Endpoint = { address: '198.51.100.2', port: 51002, family: 4 };

export interface Sent {
  from: 'a' | 'b';
  packet: Buffer;
  at: number;
}

export interface PairOptions {
  a?: Partial<DeviceOptions>;
  b?: Partial<DeviceOptions>;
  persistentKeepaliveA?: number;
  presharedKey?: Buffer;
}

/** IPv4 packet with the given addresses and payload size; enough header for the data path. */
export function ipv4(source: string, destination: string, payloadSize = 20): Buffer {
  const packet = Buffer.alloc(20 + payloadSize);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 17;
  Buffer.from(source.split('.').map(Number)).copy(packet, 12);
  Buffer.from(destination.split('.').map(Number)).copy(packet, 16);
  packet.fill(0xab, 20);
  return packet;
}

export class DevicePair {
  now = 0;
  readonly a: Device;
  readonly b: Device;
  readonly peerOfA: Peer;
  readonly peerOfB: Peer;
  /** Every datagram either side sent, in order. */
  readonly sent: Sent[] = [];
  /** Datagrams not yet delivered. */
  readonly inFlight: Sent[] = [];
  readonly tunA: Buffer[] = [];
  readonly tunB: Buffer[] = [];
  /** When false, datagrams are recorded but never delivered (the network is down). */
  linkUp = true;

  private constructor(a: Device, b: Device) {
    this.a = a;
    this.b = b;
    this.peerOfA = [...a.peers.values()][0]!;
    this.peerOfB = [...b.peers.values()][0]!;
  }

  static async create(options: PairOptions = {}): Promise<DevicePair> {
    const keyA = generatePrivateKey();
    const keyB = generatePrivateKey();
    const holder: { pair?: DevicePair } = {};
    const make = (side: 'a' | 'b', extra: Partial<DeviceOptions> = {}) =>
      new Device({
        random: () => 0.5,
        wallClock: () => 1_700_000_000_000 + (holder.pair?.now ?? 0),
        ...extra,
        io: {
          sendDatagram: (packet) => holder.pair!.record(side, Buffer.from(packet)),
          writeTun: (packet) =>
            (side === 'a' ? holder.pair!.tunA : holder.pair!.tunB).push(Buffer.from(packet)),
          setListenPort: async (port) => port,
          setFwmark: () => {},
        },
      });
    const a = make('a', options.a);
    const b = make('b', options.b);
    const psk = options.presharedKey ?? null;
    await a.apply(
      {
        privateKey: keyA,
        replacePeers: false,
        peers: [
          {
            publicKey: publicKeyOf(keyB),
            remove: false,
            updateOnly: false,
            presharedKey: psk,
            endpoint: ENDPOINT_B,
            persistentKeepalive: options.persistentKeepaliveA ?? 0,
            replaceAllowedIps: true,
            addAllowedIps: [parsePrefix('192.0.2.2/32')!, parsePrefix('203.0.113.0/24')!],
            removeAllowedIps: [],
          },
        ],
      },
      0,
    );
    await b.apply(
      {
        privateKey: keyB,
        replacePeers: false,
        peers: [
          {
            publicKey: publicKeyOf(keyA),
            remove: false,
            updateOnly: false,
            presharedKey: psk,
            replaceAllowedIps: true,
            addAllowedIps: [parsePrefix('192.0.2.1/32')!],
            removeAllowedIps: [],
          },
        ],
      },
      0,
    );
    holder.pair = new DevicePair(a, b);
    return holder.pair;
  }

  private record(from: 'a' | 'b', packet: Buffer): void {
    const sent = { from, packet, at: this.now };
    this.sent.push(sent);
    if (this.linkUp) this.inFlight.push(sent);
  }

  /** Delivers everything in flight, including what the deliveries cause, until quiet. */
  deliver(): void {
    for (let guard = 0; this.inFlight.length > 0 && guard < 10_000; guard++) {
      const { from, packet } = this.inFlight.shift()!;
      // A copy, as off a real wire: the receiver decrypts in place, and tests replay what was sent.
      if (from === 'a') this.b.receiveDatagram(Buffer.from(packet), ENDPOINT_A, this.now);
      else this.a.receiveDatagram(Buffer.from(packet), ENDPOINT_B, this.now);
    }
  }

  /** Moves the clock forward in 100 ms ticks, delivering as it goes, like the runner does. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + 100);
      this.a.tick(this.now);
      this.b.tick(this.now);
      this.deliver();
    }
  }

  /** Messages of one type (1 initiation, 2 response, 3 cookie, 4 transport) sent by one side. */
  sentBy(side: 'a' | 'b', type: number): Sent[] {
    return this.sent.filter((s) => s.from === side && s.packet.readUInt32LE(0) === type);
  }

  sendFromA(payload = 20): void {
    this.a.sendPacket(ipv4('192.0.2.1', '192.0.2.2', payload), this.now);
    this.deliver();
  }

  sendFromB(payload = 20): void {
    this.b.sendPacket(ipv4('192.0.2.2', '192.0.2.1', payload), this.now);
    this.deliver();
  }
}

export function randomPacket(maxLength: number): Buffer {
  return randomBytes(Math.floor(Math.random() * maxLength));
}
