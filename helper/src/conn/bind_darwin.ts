// macOS UDP, the portable bind: an IPv4 socket and an IPV6_V6ONLY socket on the same port, made and
// read through libSystem (koffi), one recvfrom() and one sendto() per datagram (macOS has neither
// recvmmsg nor UDP GSO). node:dgram is not used because it cannot set IP_BOUND_IF.
//
// A "mark" (setFwmark, the fwmark Linux policy routing exempts) means, here, what wireguard-apple's
// and Mullvad's binds do: the sockets are bound to the machine's default interface with
// IP_BOUND_IF/IPV6_BOUND_IF, so a full tunnel's 0/1 routes never send WireGuard's own datagrams into
// the tunnel, and re-bound whenever the default route moves (Wi-Fi to Ethernet, a new network). 0
// unbinds them.

import koffi from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
import type { Endpoint, Family } from '../../../shared/src/ip.ts';
import {
  AF_INET,
  AF_INET6,
  bindToInterface,
  EADDRINUSE,
  EAFNOSUPPORT,
  EAGAIN,
  EINTR,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  libcDarwin,
  type LibcDarwin,
  makeNonBlocking,
  type PollHandle,
  readSockaddrDarwin,
  setIntOption,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCKADDR_MAX,
  SOL_SOCKET,
  strerrorDarwin,
  watchFd,
  writeSockaddrDarwin,
} from '../libc_darwin.ts';
import { readDefaultRoute, watchRoutes, type RouteWatch } from '../routes_darwin.ts';
import type { Bind, BindOptions } from './bind.ts';
import { bindPortPair, checkMark, Destinations, SendFailures } from './udp-ports.ts';

const WILDCARD = new Uint8Array(16);
// kern.ipc.maxsockbuf is 8 MB by default: ask for wireguard-go's 7 MB, then less until one fits.
const SOCKET_BUFFERS = [7 << 20, 4 << 20, 2 << 20, 1 << 20];
const READ_BATCH = 64;
const MAX_DATAGRAM = 65535;

function growBuffers(c: LibcDarwin, fd: number): void {
  for (const option of [SO_RCVBUF, SO_SNDBUF])
    for (const size of SOCKET_BUFFERS) if (setIntOption(c, fd, SOL_SOCKET, option, size) === 0) break;
}

/** A non-blocking UDP socket on the wildcard address and `port`; the fd, or -errno. */
function bindSocket(c: LibcDarwin, family: Family, port: number): number {
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return -koffi.errno();
  let errno = makeNonBlocking(c, fd);
  if (errno === 0 && family === 6) errno = setIntOption(c, fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
  if (errno === 0) {
    growBuffers(c, fd);
    const address = Buffer.alloc(SOCKADDR_MAX);
    const length = writeSockaddrDarwin(address, family, WILDCARD, port);
    if (c.bind(fd, address, length) < 0) errno = koffi.errno();
  }
  if (errno === 0) return fd;
  c.close(fd);
  return -errno;
}

function boundPort(c: LibcDarwin, fd: number): number {
  const address = Buffer.alloc(SOCKADDR_MAX);
  c.getsockname(fd, address, new Uint32Array([address.length]));
  return address.readUInt16BE(2);
}

export async function openBindDarwin(options: BindOptions): Promise<Bind> {
  const c = libcDarwin();
  const fds = bindPortPair(
    {
      bindSocket: (family, port) => bindSocket(c, family, port),
      boundPort: (fd) => boundPort(c, fd),
      close: (fd) => c.close(fd),
      strerror: strerrorDarwin,
      EADDRINUSE,
      EAFNOSUPPORT,
    },
    options.port,
  );
  const bind = new DarwinBind(c, fds.v4, fds.v6, options.onDatagram);
  if (options.fwmark) {
    try {
      bind.setFwmark(options.fwmark);
      await bind.rebind();
    } catch (error) {
      await bind.close();
      throw error;
    }
  }
  return bind;
}

class DarwinBind implements Bind {
  readonly port: number;
  #libc: LibcDarwin;
  #sockets: { fd: number; family: Family; poll: PollHandle }[];
  #onDatagram: (packet: Buffer, from: Endpoint) => void;
  #buffer = Buffer.allocUnsafe(MAX_DATAGRAM);
  #from = Buffer.alloc(SOCKADDR_MAX);
  #fromLength = new Uint32Array(1);
  #to = Buffer.alloc(SOCKADDR_MAX);
  #destinations: Destinations;
  #mark = 0;
  #routes: RouteWatch | undefined;
  /** The interface index each family is bound to now (0: none). */
  #boundTo = { 4: 0, 6: 0 };
  #closed = false;
  #sendFailures = new SendFailures();

  constructor(
    c: LibcDarwin,
    v4: number,
    v6: number | undefined,
    onDatagram: (packet: Buffer, from: Endpoint) => void,
  ) {
    this.#libc = c;
    this.#destinations = new Destinations((name) => c.if_nametoindex(name));
    this.port = boundPort(c, v4);
    this.#onDatagram = onDatagram;
    const fds: [number, Family][] =
      v6 === undefined
        ? [[v4, 4]]
        : [
            [v4, 4],
            [v6, 6],
          ];
    this.#sockets = fds.map(([fd, family]) => ({
      fd,
      family,
      poll: watchFd(fd, { readable: true }, () => this.#read(fd)),
    }));
  }

  #read(fd: number): void {
    const c = this.#libc;
    for (let i = 0; i < READ_BATCH && !this.#closed; i++) {
      this.#fromLength[0] = this.#from.length;
      const n = c.recvfrom(fd, this.#buffer, this.#buffer.length, 0, this.#from, this.#fromLength);
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EINTR) continue;
        // EAGAIN: drained. Anything else (an ICMP error reported on the socket) loses nothing.
        if (errno !== EAGAIN) console.error(`udp port ${this.port}: recvfrom: ${strerrorDarwin(errno)}`);
        return;
      }
      const from = readSockaddrDarwin(this.#from);
      if (from) this.#onDatagram(this.#buffer.subarray(0, n), from);
    }
  }

  send(packet: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    const socket = this.#sockets.find((s) => s.family === to.family);
    if (!socket) return this.#sendFailures.record(`no IPv6 on this host (to ${to.address})`);
    const target = this.#destinations.of(to);
    if (typeof target === 'string') return this.#sendFailures.record(target);
    const length = writeSockaddrDarwin(this.#to, to.family, target.bytes, to.port, target.scopeId);
    for (;;) {
      if (this.#libc.sendto(socket.fd, packet, packet.length, 0, this.#to, length) >= 0) return;
      const errno = koffi.errno();
      if (errno !== EINTR) return this.#sendFailures.record(strerrorDarwin(errno));
    }
  }

  /** Nonzero: bound to the default interface and following it; 0: unbound. See the file's comment. */
  setFwmark(mark: number): void {
    checkMark(mark, this.port, this.#closed);
    this.#mark = mark;
    if (mark === 0) {
      this.#routes?.stop();
      this.#routes = undefined;
      this.#bindAll({ 4: 0, 6: 0 });
      return;
    }
    this.#routes ??= watchRoutes(
      () => void this.rebind().catch((error: Error) => this.#sendFailures.record(error.message)),
    );
    void this.rebind().catch((error: Error) =>
      this.#sendFailures.record(`binding to the default interface: ${error.message}`),
    );
  }

  /** Binds each family's socket to that family's default interface now (none: unbound). */
  async rebind(): Promise<void> {
    if (this.#mark === 0 || this.#closed) return;
    const wanted = { 4: 0, 6: 0 };
    for (const family of [4, 6] as const) {
      const route = await readDefaultRoute(family);
      wanted[family] = route ? this.#libc.if_nametoindex(route.interface) : 0;
    }
    if (this.#mark !== 0 && !this.#closed) this.#bindAll(wanted);
  }

  #bindAll(indexes: { 4: number; 6: number }): void {
    for (const socket of this.#sockets) {
      const index = indexes[socket.family];
      if (this.#boundTo[socket.family] === index) continue;
      const errno = bindToInterface(this.#libc, socket.fd, socket.family, index);
      if (errno !== 0)
        throw new PhantomError(
          'FWMARK_FAILED',
          `binding UDP port ${this.port} (IPv${socket.family}) to interface ${index}: ${strerrorDarwin(errno)}`,
        );
      this.#boundTo[socket.family] = index;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#routes?.stop();
    for (const socket of this.#sockets) {
      socket.poll.close();
      this.#libc.close(socket.fd);
    }
  }
}
