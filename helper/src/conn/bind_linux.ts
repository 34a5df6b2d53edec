// Linux UDP: an IPv4 socket and an IPV6_V6ONLY socket on the same port, as wireguard-go does.
//
// The sockets are made, bound and read through libc (koffi): recvmmsg() takes up to 64 datagrams per
// wake-up of the event loop (datagram-receiver_linux.ts), and a PacketWriter thread makes the sendto() calls.
// node:dgram is not used: it reads one datagram per system call and per JS callback, and it cannot
// set SO_MARK or SO_RCVBUFFORCE, which we need anyway.

import koffi from 'koffi';
import {
  EADDRINUSE,
  EAFNOSUPPORT,
  EINTR,
  EPERM,
  libc,
  type Libc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  strerror,
} from '../libc_linux.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint, type Family } from '../../../shared/src/ip.ts';
import { PacketWriter, siblingModule } from '../datapath/packet-writer.ts';
import type { Bind, BindOptions } from './bind.ts';
import { DatagramReceiver } from './datagram-receiver_linux.ts';
import { AF_INET, AF_INET6, SOCKADDR_MAX, writeSockaddr } from './sockaddr_linux.ts';

const WILDCARD = new Uint8Array(16);
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SO_MARK = 36;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;

// wireguard-go's socket buffer size: bursts of a fast peer must not overflow the default ~200 KB.
const SOCKET_BUFFER = 7 << 20;
// With port 0, how often to retry when the port the kernel gave IPv4 is taken for IPv6 (wireguard-go: 100).
const RANDOM_PORT_ATTEMPTS = 100;
const SEND_ERROR_LOG_INTERVAL_MS = 10_000;
// Datagrams up to this size go through the sender thread (an MTU up to ~1950); bigger ones are sent here.
const QUEUED_SEND_MAX = 2000;

function setInt(c: Libc, fd: number, level: number, name: number, value: number): number {
  return c.setsockopt(fd, level, name, new Int32Array([value]), 4) < 0 ? koffi.errno() : 0;
}

// The FORCE variants ignore net.core.[rw]mem_max but need CAP_NET_ADMIN; without it the plain
// options still give as much as the sysctl allows.
function growBuffers(c: Libc, fd: number): void {
  if (setInt(c, fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER) !== 0)
    setInt(c, fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER);
  if (setInt(c, fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER) !== 0)
    setInt(c, fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER);
}

/** A non-blocking UDP socket bound to the wildcard address and `port`; returns the fd, or -errno. */
function bindSocket(c: Libc, family: Family, port: number): number {
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -koffi.errno();
  let errno = family === 6 ? setInt(c, fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) : 0;
  if (errno === 0) {
    growBuffers(c, fd);
    const address = Buffer.alloc(SOCKADDR_MAX);
    const length = writeSockaddr(address, family, WILDCARD, port);
    if (c.bind(fd, address, length) < 0) errno = koffi.errno();
  }
  if (errno === 0) return fd;
  c.close(fd);
  return -errno;
}

function boundPort(c: Libc, fd: number): number {
  const address = Buffer.alloc(28);
  c.getsockname(fd, address, new Uint32Array([address.length]));
  return address.readUInt16BE(2);
}

function bindError(family: Family, port: number, errno: number): PhantomError {
  if (errno === EADDRINUSE) return new PhantomError('PORT_IN_USE', `UDP port ${port} is already in use`);
  return new PhantomError('BIND_FAILED', `binding UDP port ${port} over IPv${family}: ${strerror(errno)}`);
}

/** Binds both families; IPv6 is left out only where the kernel has no IPv6 at all. */
function bindPair(c: Libc, port: number): { v4: number; v6: number | undefined } {
  for (let attempt = 1; ; attempt++) {
    const v4 = bindSocket(c, 4, port);
    if (v4 < 0) throw bindError(4, port, -v4);
    const actual = boundPort(c, v4);
    const v6 = bindSocket(c, 6, actual);
    if (v6 >= 0) return { v4, v6 };
    if (-v6 === EAFNOSUPPORT) return { v4, v6: undefined };
    c.close(v4);
    if (-v6 === EADDRINUSE && port === 0 && attempt < RANDOM_PORT_ATTEMPTS) continue;
    throw bindError(6, actual, -v6);
  }
}

export async function openBindLinux(options: BindOptions): Promise<Bind> {
  const c = libc();
  const fds = bindPair(c, options.port);
  const bind = new LinuxBind(c, fds.v4, fds.v6, options.onDatagram);
  if (options.fwmark) {
    try {
      bind.setFwmark(options.fwmark);
    } catch (error) {
      await bind.close();
      throw error;
    }
  }
  return bind;
}

/** A destination as the kernel takes it; null for text that is no IP literal (or an unknown zone). */
function destination(c: Libc, to: Endpoint): { bytes: Uint8Array; scopeId: number } | null {
  const [literal, zone] = to.address.split('%', 2) as [string, string | undefined];
  const bytes = parseIp(literal);
  if (!bytes || bytes.length !== (to.family === 4 ? 4 : 16)) return null;
  if (zone === undefined) return { bytes, scopeId: 0 };
  const scopeId = /^\d+$/.test(zone) ? Number(zone) : c.if_nametoindex(zone);
  return scopeId > 0 ? { bytes, scopeId } : null;
}

class LinuxBind implements Bind {
  readonly port: number;
  #libc: Libc;
  #fds: number[];
  #receivers: DatagramReceiver[];
  #sender: PacketWriter;
  // The last destination, parsed: a peer's endpoint is a new object only when it roams, so the text is
  // parsed once per change instead of once per packet.
  #lastAddress = '';
  #lastDestination: { bytes: Uint8Array; scopeId: number } | null = null;
  #sockaddr = Buffer.alloc(SOCKADDR_MAX);
  #closed = false;
  #sendErrors = 0;
  #sendErrorsLogged = 0;
  #lastSendErrorLog = -Infinity;

  constructor(
    c: Libc,
    v4: number,
    v6: number | undefined,
    onDatagram: (packet: Buffer, from: Endpoint) => void,
  ) {
    this.#libc = c;
    this.port = boundPort(c, v4);
    this.#fds = v6 === undefined ? [v4] : [v4, v6];
    const log = (line: string) => console.error(`udp port ${this.port}: ${line}`);
    this.#receivers = this.#fds.map((fd) => new DatagramReceiver(fd, onDatagram, log));
    this.#sender = new PacketWriter(
      siblingModule('./udp-sender_linux', import.meta.url),
      [v4, v6 ?? -1],
      QUEUED_SEND_MAX,
      (failures, errno) => this.#sendFailed(strerror(errno), failures),
    );
  }

  #sendFailed(reason: string, count = 1): void {
    this.#sendErrors += count;
    const now = performance.now();
    if (now - this.#lastSendErrorLog < SEND_ERROR_LOG_INTERVAL_MS) return;
    console.error(
      `udp send failed: ${reason} (${this.#sendErrors - this.#sendErrorsLogged} since last report)`,
    );
    this.#lastSendErrorLog = now;
    this.#sendErrorsLogged = this.#sendErrors;
  }

  send(packet: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    const fd = to.family === 4 ? this.#fds[0]! : this.#fds[1];
    if (fd === undefined) return this.#sendFailed(`no IPv6 on this host (to ${to.address})`);
    if (to.address !== this.#lastAddress) {
      this.#lastAddress = to.address;
      this.#lastDestination = destination(this.#libc, to);
    }
    const target = this.#lastDestination;
    if (!target) return this.#sendFailed(`${to.address} is not an IP address of this family`);
    if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535)
      return this.#sendFailed(`port ${to.port} is not a port to send to`);
    // The sender thread takes unscoped destinations and datagrams that fit its slots; anything else
    // (a link-local peer, a jumbo datagram, a stuck thread) is sent here.
    if (target.scopeId === 0 && this.#sender.push(packet, to.family, target.bytes, to.port)) return;
    const length = writeSockaddr(this.#sockaddr, to.family, target.bytes, to.port, target.scopeId);
    for (;;) {
      if (this.#libc.sendto(fd, packet, packet.length, 0, this.#sockaddr, length) >= 0) return;
      const errno = koffi.errno();
      // A full send buffer (EAGAIN) loses the packet, as a full queue would: UDP promises no more.
      if (errno !== EINTR) return this.#sendFailed(strerror(errno));
    }
  }

  setFwmark(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
      throw new PhantomError('FWMARK_INVALID', `fwmark ${mark} is not a 32-bit unsigned number`);
    // A closed fd's number may already belong to some other file.
    if (this.#closed) throw new PhantomError('BIND_CLOSED', `UDP port ${this.port} is closed`);
    for (const fd of this.#fds) {
      if (this.#libc.setsockopt(fd, SOL_SOCKET, SO_MARK, new Uint32Array([mark]), 4) === 0) continue;
      const errno = koffi.errno();
      throw new PhantomError(
        errno === EPERM ? 'PERMISSION_DENIED' : 'FWMARK_FAILED',
        `setting fwmark ${mark} on UDP port ${this.port}: ${strerror(errno)}`,
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const receiver of this.#receivers) receiver.close();
    // The sender thread may be inside sendto() on these fds: it lets go before they are closed.
    await this.#sender.stop();
    for (const fd of this.#fds) this.#libc.close(fd);
  }
}
