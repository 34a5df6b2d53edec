// The few IP header fields the data path reads: addresses for cryptokey routing and the length
// that strips WireGuard's padding.

/** The destination address (4 or 16 bytes) of an IPv4/IPv6 packet, or null if it is neither. */
export function destinationAddress(packet: Uint8Array): Uint8Array | null {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4 && packet.length >= 20) return packet.subarray(16, 20);
  if (version === 6 && packet.length >= 40) return packet.subarray(24, 40);
  return null;
}

export function sourceAddress(packet: Uint8Array): Uint8Array | null {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4 && packet.length >= 20) return packet.subarray(12, 16);
  if (version === 6 && packet.length >= 40) return packet.subarray(8, 24);
  return null;
}

/** The packet's own length from its header, or -1 when the header is not a sane IPv4/IPv6 one. */
export function ipPacketLength(packet: Uint8Array): number {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  let length = -1;
  if (version === 4 && packet.length >= 20) {
    length = (packet[2]! << 8) | packet[3]!;
    if (length < 20) return -1;
  } else if (version === 6 && packet.length >= 40) {
    length = ((packet[4]! << 8) | packet[5]!) + 40;
  }
  return length <= packet.length ? length : -1;
}

/** Zero bytes to append so the encrypted length is a multiple of 16, never beyond the MTU. */
export function paddingSize(packetSize: number, mtu: number): number {
  const roundUp = (n: number) => (n + 15) & ~15;
  if (mtu === 0) return roundUp(packetSize) - packetSize;
  const lastUnit = packetSize > mtu ? packetSize % mtu : packetSize;
  return Math.min(roundUp(lastUnit), mtu) - lastUnit;
}
