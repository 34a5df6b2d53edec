// SOCKADDR_INET, the 28-byte union of SOCKADDR_IN and SOCKADDR_IN6 that Winsock and iphlpapi take
// (sendto, recvfrom, MIB_IPFORWARD_ROW2, MIB_UNICASTIPADDRESS_ROW), written and read by hand. Pure, so
// the unit tests check it on any OS. Windows' AF_INET6 is 23, not Linux's 10.

import { formatIp, parseIp, type Endpoint } from '../../shared/src/ip.ts';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 23;
export const SOCKADDR_INET_BYTES = 28;
export const SOCKADDR_IN_BYTES = 16;

/** `address` (an IP literal) and `port` as a SOCKADDR_INET; the length to pass is `length`. */
export function writeSockaddrInet(address: string, port: number, into = Buffer.alloc(SOCKADDR_INET_BYTES)) {
  const bytes = parseIp(address);
  if (!bytes) throw new Error(`"${address}" is not an IP address`);
  into.fill(0, 0, SOCKADDR_INET_BYTES);
  if (bytes.length === 4) {
    into.writeUInt16LE(AF_INET, 0);
    into.writeUInt16BE(port, 2);
    into.set(bytes, 4);
    return { buffer: into, length: SOCKADDR_IN_BYTES, family: 4 as const };
  }
  into.writeUInt16LE(AF_INET6, 0);
  into.writeUInt16BE(port, 2);
  // sin6_flowinfo (4 bytes) stays 0; the address; sin6_scope_id stays 0.
  into.set(bytes, 8);
  return { buffer: into, length: SOCKADDR_INET_BYTES, family: 6 as const };
}

/** A SOCKADDR_INET read back; IPv4-mapped IPv6 addresses come out as plain IPv4 (as on Linux). */
export function readSockaddrInet(bytes: Uint8Array, offset = 0): Endpoint | null {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset + offset, SOCKADDR_INET_BYTES);
  const family = view.readUInt16LE(0);
  const port = view.readUInt16BE(2);
  if (family === AF_INET) return { address: formatIp(view.subarray(4, 8)), port, family: 4 };
  if (family !== AF_INET6) return null;
  const address = view.subarray(8, 24);
  const mapped =
    address.subarray(0, 10).every((b) => b === 0) && address[10] === 0xff && address[11] === 0xff;
  if (mapped) return { address: formatIp(address.subarray(12, 16)), port, family: 4 };
  return { address: formatIp(address), port, family: 6 };
}
