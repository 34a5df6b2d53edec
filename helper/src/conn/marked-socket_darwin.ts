// macOS: the relay's TCP connection bound to the default interface with IP_BOUND_IF/IPV6_BOUND_IF
// (there is no SO_MARK; binding is what keeps a full tunnel's 0/1 routes from carrying the
// connection that carries the tunnel, as bind_darwin.ts does for UDP). socket(), fcntl(O_NONBLOCK),
// setsockopt and a non-blocking connect() through libSystem; libuv's poll waits for writability,
// SO_ERROR says how the connect ended, and the descriptor becomes a net.Socket.

import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
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
  type PollHandle,
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

// Darwin's errno numbers differ from Linux's, and Node names errors by the platform it runs on.
function errnoError(errno: number, what: string): Error {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `errno ${errno}`;
  }
  return Object.assign(new Error(`${what}: ${strerrorDarwin(errno)} (${code})`), { code, errno: -errno });
}

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

  return new Promise((resolve, reject) => {
    let watch: PollHandle | undefined;
    let settled = false;
    const finish = (errno: number, what: string): void => {
      if (settled) return;
      settled = true;
      watch?.close();
      watch = undefined;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      if (errno !== 0) {
        c.close(fd);
        reject(errnoError(errno, what));
        return;
      }
      try {
        resolve(new Socket({ fd, readable: true, writable: true }));
      } catch (error) {
        c.close(fd);
        reject(error as Error);
      }
    };
    const abort = (): void => finish(ECANCELED, 'connect');
    const check = (): void => {
      const value = new Uint8Array(4);
      if (c.getsockopt(fd, SOL_SOCKET, SO_ERROR, value, new Uint32Array([4])) < 0)
        finish(koffi.errno(), 'getsockopt(SO_ERROR)');
      else finish(Buffer.from(value).readInt32LE(0), 'connect');
    };
    const timer = setTimeout(() => finish(ETIMEDOUT, 'connect'), timeoutMs);
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort);
    if (result === 0) {
      queueMicrotask(check);
      return;
    }
    watch = watchFd(fd, { writable: true }, () => check());
  });
}
