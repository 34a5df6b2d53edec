// macOS: the relay's TCP connection bound to the default interface with IP_BOUND_IF/IPV6_BOUND_IF
// (there is no SO_MARK; binding is what keeps a full tunnel's 0/1 routes from carrying the
// connection that carries the tunnel, as bind_darwin.ts does for UDP). socket(), fcntl(O_NONBLOCK),
// setsockopt and a non-blocking connect() through libSystem; libuv's poll waits for writability,
// SO_ERROR says how the connect ended, and the descriptor becomes a net.Socket.

import type { Socket } from 'node:net';
import koffi from 'koffi';
import { parseIp } from '../../../shared/src/ip.ts';
import {
  AF_INET,
  AF_INET6,
  bindToInterface,
  ECANCELED,
  EINPROGRESS,
  EINTR,
  ETIMEDOUT,
  libcDarwin,
  makeNonBlocking,
  setIntOption,
  SO_ERROR,
  SO_NOSIGPIPE,
  SOCK_STREAM,
  SOCKADDR_MAX,
  SOL_SOCKET,
  strerrorDarwin,
  watchFd,
  writeSockaddrDarwin,
} from '../libc_darwin.ts';
import { readDefaultRoute } from '../routes_darwin.ts';
import type { MarkedConnectOptions } from './marked-socket.ts';
import { errnoError as pendingError, finishConnect } from './pending-connect.ts';

// Darwin's errno numbers differ from Linux's; Node names errors by the platform it runs on.
const errnoError = (errno: number, what: string): Error => pendingError(errno, what, strerrorDarwin);

export async function connectMarkedDarwin(options: MarkedConnectOptions): Promise<Socket> {
  const { address, port, mark, timeoutMs, signal } = options;
  const bytes = parseIp(address);
  if (!bytes) throw new TypeError(`${address} is not an IP address`);
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
    throw new RangeError(`fwmark ${mark} is not a 32-bit number`);
  const family = bytes.length === 4 ? 4 : 6;
  // Read before the socket exists, so an abort or a failure here leaks nothing.
  const route = mark === 0 ? null : await readDefaultRoute(family);
  const c = libcDarwin();
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) throw errnoError(koffi.errno(), 'socket');
  const fail = (errno: number, what: string): never => {
    c.close(fd);
    throw errnoError(errno, what);
  };
  let errno = makeNonBlocking(c, fd);
  if (errno !== 0) fail(errno, 'fcntl');
  // A write to a closed connection is an EPIPE error, not a SIGPIPE that kills the helper.
  errno = setIntOption(c, fd, SOL_SOCKET, SO_NOSIGPIPE, 1);
  if (errno !== 0) fail(errno, 'setsockopt(SO_NOSIGPIPE)');
  if (route) {
    errno = bindToInterface(c, fd, family, c.if_nametoindex(route.interface));
    if (errno !== 0) fail(errno, `setsockopt(IP_BOUND_IF ${route.interface})`);
  }
  const sockaddr = Buffer.alloc(SOCKADDR_MAX);
  const length = writeSockaddrDarwin(sockaddr, family, bytes, port);
  let result: number;
  do result = c.connect(fd, sockaddr, length);
  while (result < 0 && koffi.errno() === EINTR);
  if (result < 0 && koffi.errno() !== EINPROGRESS) fail(koffi.errno(), 'connect');

  return finishConnect(
    {
      fd,
      connectedAtOnce: result === 0,
      close: (fd) => c.close(fd),
      readResult: (fd) => {
        const value = new Uint8Array(4);
        return c.getsockopt(fd, SOL_SOCKET, SO_ERROR, value, new Uint32Array([4])) < 0
          ? { errno: koffi.errno(), what: 'getsockopt(SO_ERROR)' }
          : { errno: Buffer.from(value).readInt32LE(0), what: 'connect' };
      },
      pollWritable: (fd, onWritable) => watchFd(fd, { writable: true }, () => onWritable()),
      strerror: strerrorDarwin,
      ECANCELED,
      ETIMEDOUT,
    },
    timeoutMs,
    signal,
  );
}
