// Linux UDP: an IPv4 socket and an IPV6_V6ONLY socket on the same port, as wireguard-go does.
//
// The sockets are created and bound through libc (koffi) and then handed to node:dgram with the
// documented `socket.bind({ fd })`, so dgram does the event-loop receiving while we keep the fd for
// the options dgram does not offer (SO_MARK, SO_RCVBUFFORCE) and for sending: a PacketWriter thread
// calls sendto() on the same fds (through dgram, sending took a quarter of the event loop's time).
// The other ways to reach a dgram socket's fd are private: `socket._handle.fd` is deprecated
// (DEP0112, a runtime warning on Node 24).

import dgram from 'node:dgram';
import koffi from 'koffi';
import { libcFunctions, strerror } from '../libc.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint, type Family } from '../../../shared/src/ip.ts';
import { PacketWriter } from '../datapath/writer.ts';
import type { Bind, BindOptions } from './bind.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SO_MARK = 36;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const EPERM = 1;
const EAFNOSUPPORT = 97;
const EADDRINUSE = 98;

// wireguard-go's socket buffer size: bursts of a fast peer must not overflow the default ~200 KB.
const SOCKET_BUFFER = 7 << 20;
// With port 0, how often to retry when the port the kernel gave IPv4 is taken for IPv6 (wireguard-go: 100).
const RANDOM_PORT_ATTEMPTS = 100;
const SEND_ERROR_LOG_INTERVAL_MS = 10_000;
// Datagrams up to this size go through the sender thread (an MTU up to ~1950); bigger ones through dgram.
const QUEUED_SEND_MAX = 2000;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  getsockname: (fd: number, addr: Buffer, len: Uint32Array) => number;
  setsockopt: (
    fd: number,
    level: number,
    name: number,
    value: Int32Array | Uint32Array,
    len: number,
  ) => number;
  close: (fd: number) => number;
}

// Loaded on first use so that merely importing this module works on every OS.
const loadLibc = libcFunctions((lib): Libc => {
  return {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    close: lib.func('int close(int fd)'),
  };
});

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
    // sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes); the zeroed address is the wildcard.
    const address = Buffer.alloc(family === 4 ? 16 : 28);
    address.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, 0); // sa_family: host order, little-endian on our targets
    address.writeUInt16BE(port, 2);
    if (c.bind(fd, address, address.length) < 0) errno = koffi.errno();
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

// dgram resolves every destination through a lookup function; ours are IP literals already, so pass them
// through and skip dns.lookup's validation and its nextTick per packet. Bad text fails in the send itself.
function literalLookup(
  address: string,
  _options: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

function wrap(c: Libc, fd: number, family: Family): dgram.Socket {
  const socket = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: literalLookup });
  socket.bind({ fd });
  // libuv's uv_udp_open() turns SO_REUSEADDR on, which would let another SO_REUSEADDR socket bind our
  // port and take our traffic. dgram's own bind() leaves it off; so do we.
  setInt(c, fd, SOL_SOCKET, SO_REUSEADDR, 0);
  return socket;
}

/** The sender of a datagram, never as `::ffff:a.b.c.d`: that peer would be answered over the wrong
 *  family and show up twice. Only a dual-stack IPv6 socket reports IPv4 senders that way; ours are
 *  IPV6_V6ONLY, so this keeps the promise should that ever change. */
export function endpointOf(from: dgram.RemoteInfo): Endpoint {
  if (from.family === 'IPv4') return { address: from.address, port: from.port, family: 4 };
  if (from.address.startsWith('::ffff:') && from.address.includes('.'))
    return { address: from.address.slice(7), port: from.port, family: 4 };
  return { address: from.address, port: from.port, family: 6 };
}

export async function openBindLinux(options: BindOptions): Promise<Bind> {
  const c = loadLibc();
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

class LinuxBind implements Bind {
  readonly port: number;
  #libc: Libc;
  #fds: number[];
  #v4: dgram.Socket;
  #v6: dgram.Socket | undefined;
  #onDatagram: (packet: Buffer, from: Endpoint) => void;
  #sender: PacketWriter;
  // The last destination's address bytes: a peer's endpoint is a new object per received datagram, but
  // its text rarely changes, so the parse is done once per change instead of once per packet.
  #lastAddress = '';
  #lastAddressBytes: Uint8Array | null = null;
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
    this.#onDatagram = onDatagram;
    this.#v4 = wrap(c, v4, 4);
    this.#v6 = v6 === undefined ? undefined : wrap(c, v6, 6);
    this.#sender = new PacketWriter('udp', [v4, v6 ?? -1], QUEUED_SEND_MAX, (failures, errno) =>
      this.#sendFailed(strerror(errno), failures),
    );
    for (const socket of this.#v6 ? [this.#v4, this.#v6] : [this.#v4]) {
      socket.on('message', this.#onMessage);
      socket.on('error', this.#onSocketError);
    }
  }

  #onMessage = (packet: Buffer, from: dgram.RemoteInfo): void => {
    this.#onDatagram(packet, endpointOf(from));
  };

  #onSocketError = (error: Error): void => {
    console.error(`udp port ${this.port}: ${error.message}`);
  };

  // One callback for every send: no closure per packet.
  #afterSend = (error: Error | null): void => {
    if (error) this.#sendFailed(error.message);
  };

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
    const socket = to.family === 4 ? this.#v4 : this.#v6;
    if (!socket) return this.#sendFailed(`no IPv6 on this host (to ${to.address})`);
    if (to.address !== this.#lastAddress) {
      this.#lastAddress = to.address;
      this.#lastAddressBytes = parseIp(to.address);
    }
    const address = this.#lastAddressBytes;
    // The sender thread takes literal addresses of the socket's family and nonzero ports; anything
    // else (a scoped IPv6 address, a bigger datagram, a stuck thread) goes through dgram, which also
    // reports what is wrong with it.
    if (
      address &&
      address.length === (to.family === 4 ? 4 : 16) &&
      to.port > 0 &&
      this.#sender.push(packet, to.family, address, to.port)
    )
      return;
    try {
      socket.send(packet, to.port, to.address, this.#afterSend);
    } catch (error) {
      // dgram throws synchronously for arguments it rejects, e.g. port 0.
      this.#sendFailed((error as Error).message);
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
    // The sender thread may be inside sendto() on these fds: it lets go before they are closed.
    await this.#sender.stop();
    const sockets = this.#v6 ? [this.#v4, this.#v6] : [this.#v4];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }
}
