// Receiving UDP in batches: each time the event loop sees the socket readable, recvmmsg() fills up to
// BATCH datagrams in one system call, and each is handed on from memory the receiver owns. dgram makes
// one recvmsg(), one new Buffer, one address object and one call from C++ into JS per datagram:
// measured 3-4.5 us of user time per datagram, against about 1 us for this.

import koffi from 'koffi';
import { formatIp, type Endpoint } from '../../../shared/src/ip.ts';
import { EAGAIN, EINTR, libc, type PollHandle, strerror, watchReadable } from '../libc_linux.ts';
import { batchWrites } from '../datapath/packet-writer.ts';
import { AF_INET, SOCKADDR_MAX } from './sockaddr_linux.ts';
import { monotonicMs } from '../clock.ts';

const BATCH = 64;
// As big as a UDP datagram can be, so that none is ever truncated. Only the pages datagrams touch
// become resident: about 4 KB per slot at an MTU of 1420.
const SLOT = 65536;
// struct mmsghdr on LP64 Linux: struct msghdr (56 bytes), then unsigned int msg_len, padded to 64.
const MMSGHDR_SIZE = 64;
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_FLAGS = 48;
const MSG_LEN = 56;
const IOVEC_SIZE = 16;
const NAME_SIZE = 32;
const MSG_TRUNC = 0x20;
// A wake-up takes at most this many batches, so the TUN and timers get their turn under a flood.
const BATCHES_PER_WAKEUP = 4;
const ERROR_LOG_INTERVAL_MS = 10_000;

export class DatagramReceiver {
  #fd: number;
  #onDatagram: (packet: Buffer, from: Endpoint) => void;
  #log: (line: string) => void;
  #poll: PollHandle | undefined;
  // One block the kernel writes into: the mmsghdr array first (its address is what recvmmsg takes),
  // then the iovecs, the source addresses and the data slots that the headers point at.
  #memory: Buffer;
  #headers: DataView;
  #namesAt: number;
  #dataAt: number;
  // The last sender, reused while datagrams keep coming from the same address and port.
  #lastName = Buffer.alloc(SOCKADDR_MAX);
  #lastFrom: Endpoint | null = null;
  #lastErrorLog = -Infinity;
  #errors = 0;

  constructor(fd: number, onDatagram: (packet: Buffer, from: Endpoint) => void, log: (line: string) => void) {
    this.#fd = fd;
    this.#onDatagram = onDatagram;
    this.#log = log;
    const iovecsAt = BATCH * MMSGHDR_SIZE;
    this.#namesAt = iovecsAt + BATCH * IOVEC_SIZE;
    this.#dataAt = this.#namesAt + BATCH * NAME_SIZE;
    // An ArrayBuffer of its own: V8 never moves its backing store, so the addresses below stay valid
    // for as long as this object holds it.
    this.#memory = Buffer.from(new ArrayBuffer(this.#dataAt + BATCH * SLOT));
    this.#headers = new DataView(this.#memory.buffer, 0, iovecsAt);
    const base = koffi.address(this.#memory);
    const view = new DataView(this.#memory.buffer);
    for (let i = 0; i < BATCH; i++) {
      const header = i * MMSGHDR_SIZE;
      const iovec = iovecsAt + i * IOVEC_SIZE;
      view.setBigUint64(iovec, base + BigInt(this.#dataAt + i * SLOT), true);
      view.setBigUint64(iovec + 8, BigInt(SLOT), true);
      view.setBigUint64(header + MSG_NAME, base + BigInt(this.#namesAt + i * NAME_SIZE), true);
      view.setBigUint64(header + MSG_IOV, base + BigInt(iovec), true);
      view.setBigUint64(header + MSG_IOVLEN, 1n, true);
    }
    this.#poll = watchReadable(fd, this.#onReadable);
  }

  /** Stops receiving; the fd stays open (its owner closes it). */
  close(): void {
    this.#poll?.close();
    this.#poll = undefined;
  }

  #onReadable = (status: number): void => {
    // An error on the socket is still read (and cleared) by recvmmsg below.
    if (status < 0) this.#failed(`poll status ${status}`);
    const { recvmmsg } = libc();
    const headers = this.#headers;
    for (let batch = 0; batch < BATCHES_PER_WAKEUP && this.#poll; batch++) {
      // The kernel overwrites msg_namelen with each sender's length.
      for (let i = 0; i < BATCH; i++) headers.setUint32(i * MMSGHDR_SIZE + MSG_NAMELEN, SOCKADDR_MAX, true);
      const count = recvmmsg(this.#fd, this.#memory, BATCH, 0, null);
      if (count < 0) {
        const errno = koffi.errno();
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) this.#failed(strerror(errno));
        return;
      }
      batchWrites(() => this.#deliver(count));
      if (count < BATCH) return;
    }
  };

  /** Hands on the `count` datagrams recvmmsg just filled in; what they cause is written in one go. */
  #deliver(count: number): void {
    const headers = this.#headers;
    for (let i = 0; i < count && this.#poll; i++) {
      const header = i * MMSGHDR_SIZE;
      // A truncated datagram cannot be a valid message; the device would drop it anyway.
      if (headers.getInt32(header + MSG_FLAGS, true) & MSG_TRUNC) continue;
      const start = this.#dataAt + i * SLOT;
      const packet = this.#memory.subarray(start, start + headers.getUint32(header + MSG_LEN, true));
      this.#onDatagram(packet, this.#sender(this.#namesAt + i * NAME_SIZE));
    }
  }

  /** The Endpoint of the sockaddr at `offset`: the same object as last time if the sender is the same. */
  #sender(offset: number): Endpoint {
    const memory = this.#memory;
    const v4 = memory.readUInt16LE(offset) === AF_INET;
    const length = v4 ? 8 : SOCKADDR_MAX;
    if (this.#lastFrom && memory.compare(this.#lastName, 0, length, offset, offset + length) === 0)
      return this.#lastFrom;
    memory.copy(this.#lastName, 0, offset, offset + SOCKADDR_MAX);
    this.#lastFrom = endpointOf(this.#lastName);
    return this.#lastFrom;
  }

  #failed(reason: string): void {
    this.#errors++;
    const now = monotonicMs();
    if (now - this.#lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.#lastErrorLog = now;
    this.#log(`receiving failed: ${reason} (${this.#errors} times)`);
  }
}

/**
 * The sender in a sockaddr_in or sockaddr_in6, never as ::ffff:a.b.c.d: only a dual-stack socket
 * reports IPv4 senders that way (ours are IPV6_V6ONLY), and such a peer would be answered over the
 * wrong family and show up twice, so this keeps the promise should that ever change.
 */
export function endpointOf(name: Buffer): Endpoint {
  const port = name.readUInt16BE(2);
  if (name.readUInt16LE(0) === AF_INET) return { address: formatIp(name.subarray(4, 8)), port, family: 4 };
  const bytes = name.subarray(8, 24);
  if (isV4Mapped(bytes)) return { address: formatIp(bytes.subarray(12)), port, family: 4 };
  const scopeId = name.readUInt32LE(24);
  // A link-local sender's zone as the interface name, as dgram reported it (fe80::1%eth0).
  return { address: formatIp(bytes) + (scopeId ? `%${scopeName(scopeId)}` : ''), port, family: 6 };
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function scopeName(index: number): string {
  const name = Buffer.alloc(16);
  return libc().if_indextoname(index, name) ?? String(index);
}
