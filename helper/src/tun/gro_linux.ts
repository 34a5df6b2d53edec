// Receive coalescing for TUN writes (GRO), the other half of offload_linux.ts: consecutive segments of
// one TCP stream, decrypted one by one, are joined into one super-packet behind a virtio_net_hdr that
// says how to cut it again. The kernel then runs the inner TCP receive path once per super-packet
// instead of once per segment, and we make one write() instead of many. As in wireguard-go
// (tun/offload_linux.go) and the kernel's own GRO, only plain data segments join: ACK or ACK+PSH, no
// IPv4 options or fragments, no IPv6 extension headers, the same headers but for sequence and length.
//
// A joined super-packet's checksum is left to the kernel (CHECKSUM_PARTIAL), which then no longer
// checks the segments', so each segment's checksum is verified before it may join.

import {
  F_NEEDS_CSUM,
  fold,
  GSO_TCPV4,
  GSO_TCPV6,
  PROTOCOL_TCP,
  pseudoHeaderSum,
  sum16,
  TCP_PSH,
  VIRTIO_NET_HDR_SIZE,
} from './offload_linux.ts';

const TCP_ACK = 0x10;
const MAX_IP_PACKET = 65535;

/** What a plain TCP data segment looks like from its headers; null for anything that cannot join. */
interface Segment {
  v4: boolean;
  ipHeaderLength: number;
  headersLength: number;
  payloadLength: number;
  sequence: number;
  push: boolean;
}

function tcpSegment(packet: Uint8Array): Segment | null {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  let ipHeaderLength: number;
  if (version === 4) {
    if (packet.length < 40 || packet[0] !== 0x45 || packet[9] !== PROTOCOL_TCP) return null;
    if (view.getUint16(2) !== packet.length) return null;
    // More-fragments flag or a fragment offset: not a whole segment.
    if (view.getUint16(6) & 0x3fff) return null;
    ipHeaderLength = 20;
  } else if (version === 6) {
    if (packet.length < 60 || packet[6] !== PROTOCOL_TCP) return null;
    if (view.getUint16(4) !== packet.length - 40) return null;
    ipHeaderLength = 40;
  } else return null;
  const tcpHeaderLength = (packet[ipHeaderLength + 12]! >> 4) * 4;
  const headersLength = ipHeaderLength + tcpHeaderLength;
  if (tcpHeaderLength < 20 || headersLength >= packet.length) return null;
  const flags = packet[ipHeaderLength + 13]!;
  if (flags !== TCP_ACK && flags !== (TCP_ACK | TCP_PSH)) return null;
  const l4Length = packet.length - ipHeaderLength;
  const checksum = sum16(
    packet,
    ipHeaderLength,
    packet.length,
    pseudoHeaderSum(packet, version === 4, PROTOCOL_TCP, l4Length),
  );
  if (fold(checksum) !== 0xffff) return null;
  return {
    v4: version === 4,
    ipHeaderLength,
    headersLength,
    payloadLength: packet.length - headersLength,
    sequence: view.getUint32(ipHeaderLength + 4),
    push: flags !== TCP_ACK,
  };
}

/** Equal bytes in [start, end) of both. */
function sameBytes(a: Uint8Array, aOffset: number, b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (a[aOffset + i] !== b[i]) return false;
  return true;
}

export class TcpCoalescer {
  // virtio_net_hdr, then the super-packet being built.
  #frame = Buffer.alloc(VIRTIO_NET_HDR_SIZE + MAX_IP_PACKET);
  #segment: Segment | null = null;
  #length = 0;
  #segments = 0;
  #nextSequence = 0;
  // A shorter segment or one with PSH ends a super-packet.
  #closed = false;

  /**
   * Takes one packet the device decrypted, behind VIRTIO_NET_HDR_SIZE bytes of room (zeros), and
   * hands `write` every frame that is complete: the packet as it is when it cannot join, or what was
   * being joined when this one does not belong to it.
   */
  add(framed: Uint8Array, write: (frame: Uint8Array) => void): void {
    const packet = framed.subarray(VIRTIO_NET_HDR_SIZE);
    const segment = tcpSegment(packet);
    if (segment && this.#joins(segment, packet)) {
      this.#frame.set(packet.subarray(segment.headersLength), VIRTIO_NET_HDR_SIZE + this.#length);
      this.#length += segment.payloadLength;
      this.#segments++;
      this.#nextSequence = (this.#nextSequence + segment.payloadLength) >>> 0;
      if (segment.push) this.#frame[VIRTIO_NET_HDR_SIZE + this.#segment!.ipHeaderLength + 13]! |= TCP_PSH;
      this.#closed = segment.push || segment.payloadLength < this.#segment!.payloadLength;
      return;
    }
    this.flush(write);
    if (!segment) return write(framed);
    this.#frame.fill(0, 0, VIRTIO_NET_HDR_SIZE);
    this.#frame.set(packet, VIRTIO_NET_HDR_SIZE);
    this.#segment = segment;
    this.#length = packet.length;
    this.#segments = 1;
    this.#nextSequence = (segment.sequence + segment.payloadLength) >>> 0;
    this.#closed = segment.push;
  }

  /** Hands `write` what is being joined, if anything. */
  flush(write: (frame: Uint8Array) => void): void {
    const segment = this.#segment;
    if (!segment) return;
    this.#segment = null;
    const frame = this.#frame.subarray(0, VIRTIO_NET_HDR_SIZE + this.#length);
    if (this.#segments > 1) this.#describe(frame, segment);
    write(frame);
  }

  #joins(segment: Segment, packet: Uint8Array): boolean {
    const first = this.#segment;
    if (!first || this.#closed || segment.v4 !== first.v4) return false;
    if (segment.headersLength !== first.headersLength || segment.sequence !== this.#nextSequence)
      return false;
    if (segment.payloadLength > first.payloadLength || this.#length + segment.payloadLength > MAX_IP_PACKET)
      return false;
    const frame = this.#frame;
    const at = VIRTIO_NET_HDR_SIZE;
    const tcp = first.ipHeaderLength;
    // IP: version, TOS or traffic class and flow label; TTL or hop limit; addresses. The v4 DF flag.
    const ipSame = first.v4
      ? frame[at + 1] === packet[1] &&
        frame[at + 8] === packet[8] &&
        (frame[at + 6]! & 0x40) === (packet[6]! & 0x40) &&
        sameBytes(frame, at, packet, 12, 20)
      : sameBytes(frame, at, packet, 0, 4) &&
        frame[at + 7] === packet[7] &&
        sameBytes(frame, at, packet, 8, 40);
    // TCP: ports, acknowledgment, data offset, flags (PSH may come last), window, options.
    return (
      ipSame &&
      sameBytes(frame, at, packet, tcp, tcp + 4) &&
      sameBytes(frame, at, packet, tcp + 8, tcp + 13) &&
      (frame[at + tcp + 13]! & ~TCP_PSH) === (packet[tcp + 13]! & ~TCP_PSH) &&
      sameBytes(frame, at, packet, tcp + 14, tcp + 16) &&
      sameBytes(frame, at, packet, tcp + 20, first.headersLength)
    );
  }

  /** Header and lengths of a joined super-packet; the TCP checksum becomes the kernel's to finish. */
  #describe(frame: Buffer, segment: Segment): void {
    const packet = frame.subarray(VIRTIO_NET_HDR_SIZE);
    const tcp = segment.ipHeaderLength;
    frame[0] = F_NEEDS_CSUM;
    frame[1] = segment.v4 ? GSO_TCPV4 : GSO_TCPV6;
    frame.writeUInt16LE(segment.headersLength, 2);
    frame.writeUInt16LE(segment.payloadLength, 4);
    frame.writeUInt16LE(tcp, 6);
    frame.writeUInt16LE(16, 8);
    if (segment.v4) {
      packet.writeUInt16BE(packet.length, 2);
      packet.writeUInt16BE(0, 10);
      packet.writeUInt16BE(~fold(sum16(packet, 0, tcp, 0)) & 0xffff, 10);
    } else {
      packet.writeUInt16BE(packet.length - 40, 4);
    }
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the rest is summed where it is needed.
    packet.writeUInt16BE(
      fold(pseudoHeaderSum(packet, segment.v4, PROTOCOL_TCP, packet.length - tcp)),
      tcp + 16,
    );
  }
}
