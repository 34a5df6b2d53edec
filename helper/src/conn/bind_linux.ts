// Linux UDP: an IPv4 socket and an IPV6_V6ONLY socket on the same port, as wireguard-go does.
//
// The sockets are made, bound and read through libc (koffi): recvmmsg() takes up to 64 datagrams per
// wake-up of the event loop (datagram-receiver_linux.ts), and what one batch sends leaves together
// (PacketWriter, UDP_SEGMENT: udp-sender_linux.ts).
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
import type { Endpoint, Family } from '../../../shared/src/ip.ts';
import { PacketWriter } from '../datapath/packet-writer.ts';
import { UdpSender } from './udp-sender_linux.ts';
import type { Bind, BindOptions } from './bind.ts';
import { DatagramReceiver } from './datagram-receiver_linux.ts';
import { AF_INET, AF_INET6, SOCKADDR_MAX, writeSockaddr } from './sockaddr_linux.ts';
import { bindPortPair, checkMark, Destinations, SendFailures } from './udp-ports.ts';

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
// Datagrams up to this size are queued for GSO (an MTU up to ~1950); bigger ones are sent at once.
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

export async function openBindLinux(options: BindOptions): Promise<Bind> {
  const c = libc();
  const fds = bindPortPair(
    {
      bindSocket: (family, port) => bindSocket(c, family, port),
      boundPort: (fd) => boundPort(c, fd),
      close: (fd) => c.close(fd),
      strerror,
      EADDRINUSE,
      EAFNOSUPPORT,
    },
    options.port,
  );
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

class LinuxBind implements Bind {
  readonly port: number;
  #libc: Libc;
  #fds: number[];
  #receivers: DatagramReceiver[];
  #sender: PacketWriter;
  #destinations: Destinations;
  #sockaddr = Buffer.alloc(SOCKADDR_MAX);
  #closed = false;
  #sendFailures = new SendFailures();

  constructor(
    c: Libc,
    v4: number,
    v6: number | undefined,
    onDatagram: (packet: Buffer, from: Endpoint) => void,
  ) {
    this.#libc = c;
    this.#destinations = new Destinations((name) => c.if_nametoindex(name));
    this.port = boundPort(c, v4);
    this.#fds = v6 === undefined ? [v4] : [v4, v6];
    const log = (line: string) => console.error(`udp port ${this.port}: ${line}`);
    this.#receivers = this.#fds.map((fd) => new DatagramReceiver(fd, onDatagram, log));
    this.#sender = new PacketWriter(
      new UdpSender([v4, v6 ?? -1], (errno, failures) =>
        this.#sendFailures.record(strerror(errno), failures),
      ),
      QUEUED_SEND_MAX,
    );
  }

  send(packet: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    const fd = to.family === 4 ? this.#fds[0]! : this.#fds[1];
    if (fd === undefined) return this.#sendFailures.record(`no IPv6 on this host (to ${to.address})`);
    const target = this.#destinations.of(to);
    if (typeof target === 'string') return this.#sendFailures.record(target);
    // Unscoped destinations are queued for the batch's end (GSO); anything else (a lone datagram, a
    // link-local peer, a jumbo datagram) is sent here.
    if (target.scopeId === 0 && this.#sender.push(packet, to.family, target.bytes, to.port)) return;
    const length = writeSockaddr(this.#sockaddr, to.family, target.bytes, to.port, target.scopeId);
    for (;;) {
      if (this.#libc.sendto(fd, packet, packet.length, 0, this.#sockaddr, length) >= 0) return;
      const errno = koffi.errno();
      // A full send buffer (EAGAIN) loses the packet, as a full queue would: UDP promises no more.
      if (errno !== EINTR) return this.#sendFailures.record(strerror(errno));
    }
  }

  setFwmark(mark: number): void {
    checkMark(mark, this.port, this.#closed);
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
    // What is queued leaves before the fds are closed.
    this.#sender.stop();
    for (const fd of this.#fds) this.#libc.close(fd);
  }
}
