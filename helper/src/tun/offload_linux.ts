// TCP segmentation offload for the Linux TUN (IFF_VNET_HDR + TUNSETOFFLOAD). With it, the kernel's TCP
// hands the TUN whole 64 KB sends as one "super-packet" behind a virtio_net_hdr, instead of running its
// output path and our read() once per MTU-sized segment; we cut it into segments here, as a NIC would.
// Every read and write then carries that 10-byte header. wireguard-go does the same
// (tun/offload_linux.go). This is the segmentation half; gro_linux.ts coalesces what we write.

export const VIRTIO_NET_HDR_SIZE = 10;
// struct virtio_net_hdr: u8 flags, u8 gso_type, le16 hdr_len, gso_size, csum_start, csum_offset.
const FLAGS = 0;
const GSO_TYPE = 1;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;
export const F_NEEDS_CSUM = 1;
const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_TCPV6 = 4;
const GSO_ECN = 0x80;

export const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;
const TCP_FIN = 0x01;
export const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * What one read of an offloading TUN returned (header and packet), as plain IP packets with complete
 * checksums: `onPacket` gets each, in order, as a view that is valid only during the call (segments
 * are built in `scratch`, which must hold 65535 bytes). False when the header is malformed or asks for
 * an offload we never enabled; nothing is handed on then.
 */
export function splitOffloaded(read: Buffer, scratch: Buffer, onPacket: (packet: Buffer) => void): boolean {
  if (read.length <= VIRTIO_NET_HDR_SIZE) return false;
  const gsoType = read[GSO_TYPE]! & ~GSO_ECN;
  const csumStart = read.readUInt16LE(CSUM_START);
  const packet = read.subarray(VIRTIO_NET_HDR_SIZE);
  if (gsoType === GSO_NONE) {
    if (read[FLAGS]! & F_NEEDS_CSUM && !completeChecksum(packet, csumStart, read.readUInt16LE(CSUM_OFFSET)))
      return false;
    onPacket(packet);
    return true;
  }
  const version = packet[0]! >> 4;
  if (!((gsoType === GSO_TCPV4 && version === 4) || (gsoType === GSO_TCPV6 && version === 6))) return false;
  return segmentTcp(packet, csumStart, read.readUInt16LE(GSO_SIZE), scratch, onPacket);
}

/** Cuts a TCP super-packet into segments of `segmentSize` payload bytes (TSO, as a NIC does it). */
function segmentTcp(
  packet: Buffer,
  tcpStart: number,
  segmentSize: number,
  scratch: Buffer,
  onPacket: (packet: Buffer) => void,
): boolean {
  const v4 = packet[0]! >> 4 === 4;
  const ipHeaderLength = v4 ? (packet[0]! & 0x0f) * 4 : 40;
  if (segmentSize === 0 || tcpStart < ipHeaderLength || tcpStart + 20 > packet.length) return false;
  if ((v4 ? packet[9] : packet[6]) !== PROTOCOL_TCP && tcpStart === ipHeaderLength) return false;
  const headersLength = tcpStart + (packet[tcpStart + 12]! >> 4) * 4;
  if (headersLength > packet.length || headersLength - tcpStart < 20) return false;

  const firstSequence = packet.readUInt32BE(tcpStart + 4);
  const tcpFlags = packet[tcpStart + 13]!;
  const firstId = v4 ? packet.readUInt16BE(4) : 0;
  const payloadLength = packet.length - headersLength;
  const segments = Math.ceil(payloadLength / segmentSize);
  for (let i = 0; i < segments; i++) {
    const from = headersLength + i * segmentSize;
    const to = Math.min(from + segmentSize, packet.length);
    const length = headersLength + (to - from);
    packet.copy(scratch, 0, 0, headersLength);
    packet.copy(scratch, headersLength, from, to);
    const segment = scratch.subarray(0, length);
    if (v4) {
      segment.writeUInt16BE(length, 2);
      segment.writeUInt16BE((firstId + i) & 0xffff, 4);
      segment.writeUInt16BE(0, 10);
      segment.writeUInt16BE(~fold(sum16(segment, 0, ipHeaderLength, 0)) & 0xffff, 10);
    } else {
      segment.writeUInt16BE(length - 40, 4);
    }
    segment.writeUInt32BE((firstSequence + i * segmentSize) >>> 0, tcpStart + 4);
    // FIN and PSH belong to the last segment, CWR to the first, as the kernel's own GSO does it.
    let flags = tcpFlags;
    if (i !== segments - 1) flags &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) flags &= ~TCP_CWR;
    segment[tcpStart + 13] = flags;
    segment.writeUInt16BE(0, tcpStart + 16);
    const sum = sum16(
      segment,
      tcpStart,
      length,
      pseudoHeaderSum(segment, v4, PROTOCOL_TCP, length - tcpStart),
    );
    segment.writeUInt16BE(~fold(sum) & 0xffff, tcpStart + 16);
    onPacket(segment);
  }
  return true;
}

/**
 * Finishes a checksum the kernel left partial (CHECKSUM_PARTIAL): the field at start + offset holds
 * the pseudo-header sum, and the sum from `start` to the end goes in its place.
 */
function completeChecksum(packet: Buffer, start: number, offset: number): boolean {
  if (start + offset + 2 > packet.length) return false;
  let checksum = ~fold(sum16(packet, start, packet.length, 0)) & 0xffff;
  // In UDP an all-zero checksum means "none": a computed zero is sent as all ones (RFC 768).
  const protocol = packet[0]! >> 4 === 4 ? packet[9] : packet[6];
  if (checksum === 0 && protocol === PROTOCOL_UDP) checksum = 0xffff;
  packet.writeUInt16BE(checksum, start + offset);
  return true;
}

/** The one's-complement sum of the TCP/UDP pseudo-header (addresses, protocol, length). */
export function pseudoHeaderSum(packet: Uint8Array, v4: boolean, protocol: number, l4Length: number): number {
  const sum = v4 ? sum16(packet, 12, 20, 0) : sum16(packet, 8, 40, 0);
  return sum + protocol + l4Length;
}

/** Adds the big-endian 16-bit words of bytes[start, end) to `sum`, unfolded (a double holds it exactly). */
export function sum16(bytes: Uint8Array, start: number, end: number, sum: number): number {
  let i = start;
  // Packets behind a 10-byte virtio_net_hdr sit two bytes off: one 16-bit word aligns them.
  if (((bytes.byteOffset + i) & 3) === 2 && i + 1 < end) {
    sum += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
  }
  const offset = bytes.byteOffset + i;
  const wordCount = (end - i) >> 2;
  if ((offset & 3) === 0 && wordCount >= 8) {
    // Four bytes a step through a native-order view (little-endian on every target we build): a
    // one's-complement sum in swapped byte order is the swapped sum (RFC 1071 2(B)). Measured on a
    // 1420-byte segment: 0.5 us, against 1.3-2 us two bytes at a time.
    const words = new Uint32Array(bytes.buffer, offset, wordCount);
    let wide = 0;
    for (let k = 0; k < wordCount; k++) wide += words[k]!;
    const folded = fold(wide);
    sum += ((folded & 0xff) << 8) | (folded >> 8);
    i += wordCount << 2;
  }
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}
