// struct sockaddr_in / sockaddr_in6 as bytes, for the system calls the bind makes through koffi.
// sa_family is in host order (little-endian on every target we build); port and address in network order.

import type { Family } from '../../../shared/src/ip.ts';

export const AF_INET = 2;
export const AF_INET6 = 10;
const SOCKADDR_IN_SIZE = 16;
const SOCKADDR_IN6_SIZE = 28;
/** Room for either. */
export const SOCKADDR_MAX = SOCKADDR_IN6_SIZE;

/**
 * Writes a destination into `out` (at least SOCKADDR_MAX bytes): `address` holds 4 bytes for IPv4 (or
 * more, of which the first 4 count) or 16 for IPv6. Returns the length to pass to the kernel.
 */
export function writeSockaddr(
  out: Buffer,
  family: Family,
  address: Uint8Array,
  port: number,
  scopeId = 0,
): number {
  out.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, 0);
  out.writeUInt16BE(port, 2);
  if (family === 4) {
    out.set(address.length === 4 ? address : address.subarray(0, 4), 4);
    return SOCKADDR_IN_SIZE;
  }
  out.writeUInt32BE(0, 4); // flow information
  out.set(address, 8);
  out.writeUInt32LE(scopeId, 24);
  return SOCKADDR_IN6_SIZE;
}
