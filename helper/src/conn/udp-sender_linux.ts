// UDP sends batched with generic segmentation offload (UDP_SEGMENT, Linux 4.18), the handler of the
// bind's PacketWriter (datapath/packet-writer.ts):
// consecutive datagrams to one destination, all of one size but a shorter last one, go to the kernel
// as one buffer in one sendmsg(), and the kernel splits them as late as it can (on a veth pair, in the
// receiving namespace). The UDP/IP output path then runs once per batch instead of once per datagram.
// Where the kernel or the route cannot segment (EIO, EINVAL...), the socket falls back to one sendto()
// per datagram for good, as wireguard-go does.

import koffi from 'koffi';
import type { OutgoingPacket, PacketHandler } from '../datapath/packet-writer.ts';
import { EAGAIN, EINTR, EINVAL, EIO, ENOPROTOOPT, EOPNOTSUPP, libc } from '../libc_linux.ts';
import { SOCKADDR_MAX, writeSockaddr } from './sockaddr_linux.ts';

const SOL_UDP = 17;
const UDP_SEGMENT = 103;
// The kernel's UDP_MAX_SEGMENTS, and what one UDP datagram may carry in all.
const MAX_SEGMENTS = 64;
const MAX_BATCH_BYTES = 65507;
const POLLOUT = 4;
// A full socket send buffer drains in well under this; waiting is the backpressure a queue gives.
const SEND_BUFFER_WAIT_MS = 100;

// One block the kernel reads (addresses inside it are absolute): struct msghdr, one iovec, one
// cmsghdr with the segment size, the destination, then the datagrams themselves.
const MSGHDR = 0;
const IOVEC = 64;
const CMSG = 80;
const CMSG_SPACE = 24; // CMSG_SPACE(sizeof(uint16_t)) on LP64
const CMSG_LEN = 18;
const NAME = 112;
const STAGING = 256;

const { sendmsg, sendto, poll } = libc();

export class UdpSender implements PacketHandler {
  #fds: number[];
  #onFailed: (errno: number, datagrams: number) => void;
  // Large enough to live outside V8's heap, so the absolute addresses written into it stay valid.
  #memory = Buffer.from(new ArrayBuffer(STAGING + MAX_BATCH_BYTES));
  #msghdr = this.#memory.subarray(MSGHDR, MSGHDR + 56);
  #name = this.#memory.subarray(NAME, NAME + SOCKADDR_MAX);
  #pollfd = Buffer.alloc(8);
  #gso = [true, true];
  // The batch being gathered: its destination, segment size, datagram count and bytes.
  #family = 0;
  #port = 0;
  #address = Buffer.alloc(16);
  #nameLength = 0;
  #size = 0;
  #count = 0;
  #bytes = 0;

  /** `fds`: the IPv4 socket, then the IPv6 one (or -1). */
  constructor(fds: number[], onFailed: (errno: number, datagrams: number) => void) {
    this.#fds = fds;
    this.#onFailed = onFailed;
    const base = koffi.address(this.#memory);
    const memory = this.#memory;
    memory.writeBigUInt64LE(base + BigInt(NAME), MSGHDR);
    memory.writeBigUInt64LE(base + BigInt(IOVEC), MSGHDR + 16);
    memory.writeBigUInt64LE(1n, MSGHDR + 24);
    memory.writeBigUInt64LE(base + BigInt(CMSG), MSGHDR + 32);
    memory.writeBigUInt64LE(BigInt(CMSG_SPACE), MSGHDR + 40);
    memory.writeBigUInt64LE(base + BigInt(STAGING), IOVEC);
    memory.writeBigUInt64LE(BigInt(CMSG_LEN), CMSG);
    memory.writeInt32LE(SOL_UDP, CMSG + 8);
    memory.writeInt32LE(UDP_SEGMENT, CMSG + 12);
  }

  /** Adds a datagram to the batch, sending the batch first if this one cannot join it. */
  add(entry: OutgoingPacket): void {
    const length = entry.packet.length;
    if (
      this.#count > 0 &&
      (length > this.#size ||
        this.#count === MAX_SEGMENTS ||
        this.#bytes + length > MAX_BATCH_BYTES ||
        !this.#sameDestination(entry))
    )
      this.flush();
    if (this.#count === 0) {
      this.#family = entry.family;
      this.#port = entry.port;
      this.#address.set(entry.address.subarray(0, 16));
      this.#nameLength = writeSockaddr(this.#name, entry.family === 4 ? 4 : 6, entry.address, entry.port);
      this.#size = length;
    }
    this.#memory.set(entry.packet, STAGING + this.#bytes);
    this.#bytes += length;
    this.#count++;
    // Only the last segment may be shorter.
    if (length < this.#size) this.flush();
  }

  /** Sends what has been gathered. */
  flush(): void {
    const count = this.#count;
    const bytes = this.#bytes;
    if (count === 0) return;
    this.#count = 0;
    this.#bytes = 0;
    const v4 = this.#family === 4;
    const fd = this.#fds[v4 ? 0 : 1]!;
    if (count > 1 && this.#gso[v4 ? 0 : 1]) {
      const memory = this.#memory;
      memory.writeUInt32LE(this.#nameLength, MSGHDR + 8);
      memory.writeBigUInt64LE(BigInt(bytes), IOVEC + 8);
      memory.writeUInt16LE(this.#size, CMSG + 16);
      const errno = this.#retrying(fd, () => sendmsg(fd, this.#msghdr, 0));
      if (errno === 0) return;
      if (errno !== EIO && errno !== EINVAL && errno !== ENOPROTOOPT && errno !== EOPNOTSUPP)
        return this.#onFailed(errno, count);
      this.#gso[v4 ? 0 : 1] = false;
    }
    for (let offset = 0; offset < bytes; offset += this.#size) {
      const datagram = this.#memory.subarray(
        STAGING + offset,
        STAGING + Math.min(offset + this.#size, bytes),
      );
      const errno = this.#retrying(fd, () =>
        sendto(fd, datagram, datagram.length, 0, this.#name, this.#nameLength),
      );
      if (errno !== 0) this.#onFailed(errno, 1);
    }
  }

  /** Runs a send until it is not interrupted, waiting once for room in a full socket buffer; 0 or errno. */
  #retrying(fd: number, send: () => number): number {
    let waited = false;
    for (;;) {
      if (send() >= 0) return 0;
      const errno = koffi.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN || waited) return errno;
      this.#pollfd.writeInt32LE(fd, 0);
      this.#pollfd.writeInt16LE(POLLOUT, 4);
      poll(this.#pollfd, 1, SEND_BUFFER_WAIT_MS);
      waited = true;
    }
  }

  #sameDestination(entry: OutgoingPacket): boolean {
    if (entry.family !== this.#family || entry.port !== this.#port) return false;
    const length = entry.family === 4 ? 4 : 16;
    for (let i = 0; i < length; i++) if (entry.address[i] !== this.#address[i]) return false;
    return true;
  }
}
