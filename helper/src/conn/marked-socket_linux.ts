// Linux: socket(), setsockopt(SO_MARK) and a non-blocking connect() through libc (koffi); the event
// loop waits for the socket to become writable (libuv's poll, as watchReadable does for reading),
// SO_ERROR says how the connect ended, and the connected descriptor becomes a net.Socket, which
// Node then treats as any TCP stream of its own (reads, writes, end, 'close', remoteAddress).

import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import koffi from 'koffi';
import { parseIp } from '../../../shared/src/ip.ts';
import { EINTR, libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, strerror } from '../libc_linux.ts';
import type { MarkedConnectOptions } from './marked-socket.ts';
import { AF_INET, AF_INET6, SOCKADDR_MAX, writeSockaddr } from './sockaddr_linux.ts';

const SOCK_STREAM = 1;
const SO_ERROR = 4;
const SO_MARK = 36;
const EINPROGRESS = 115;
const ETIMEDOUT = 110;
const ECANCELED = 125;

// koffi calls a poll callback with (status, events) (see libc_linux.ts, watchReadable).
type PollHandle = { close(): void };
type Poll = (fd: number, options: { writable: boolean }, callback: (status: number) => void) => PollHandle;

/** An Error as Node's own socket errors look: `code` the errno name, `errno` negative. */
function errnoError(errno: number, what: string): Error {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `errno ${errno}`;
  }
  return Object.assign(new Error(`${what}: ${strerror(errno)} (${code})`), { code, errno: -errno });
}

export function connectMarkedLinux(options: MarkedConnectOptions): Promise<Socket> {
  const { address, port, mark, timeoutMs, signal } = options;
  const bytes = parseIp(address);
  if (!bytes) return Promise.reject(new TypeError(`${address} is not an IP address`));
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
    return Promise.reject(new RangeError(`fwmark ${mark} is not a 32-bit number`));
  const family = bytes.length === 4 ? 4 : 6;
  const c = libc();

  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Promise.reject(errnoError(koffi.errno(), 'socket'));
  const fail = (errno: number, what: string): Promise<never> => {
    c.close(fd);
    return Promise.reject(errnoError(errno, what));
  };
  // Unsigned, as the kernel reads it; Uint32Array keeps marks above 2^31 intact.
  if (c.setsockopt(fd, SOL_SOCKET, SO_MARK, new Uint32Array([mark]), 4) < 0)
    return fail(koffi.errno(), 'setsockopt(SO_MARK)');
  const sockaddr = Buffer.alloc(SOCKADDR_MAX);
  const length = writeSockaddr(sockaddr, family, bytes, port);
  let result: number;
  do result = c.connect(fd, sockaddr, length);
  while (result < 0 && koffi.errno() === EINTR);
  if (result < 0 && koffi.errno() !== EINPROGRESS) return fail(koffi.errno(), 'connect');

  return new Promise((resolve, reject) => {
    let watch: PollHandle | undefined;
    let settled = false;
    const finish = (errno: number, what: string): void => {
      if (settled) return;
      settled = true;
      // The poll handle goes first: libuv must not have two watchers on one descriptor, and closing
      // it takes the fd out of epoll at once, before the TCP handle below adds it again.
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
      const value = new Int32Array(1);
      if (c.getsockopt(fd, SOL_SOCKET, SO_ERROR, value, new Uint32Array([4])) < 0)
        finish(koffi.errno(), 'getsockopt(SO_ERROR)');
      else finish(value[0]!, 'connect');
    };
    const timer = setTimeout(() => finish(ETIMEDOUT, 'connect'), timeoutMs);
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort);
    if (result === 0) {
      // Connected at once (loopback can): nothing to wait for.
      queueMicrotask(check);
      return;
    }
    // Writable (or in error: libuv reports POLLERR/POLLHUP as writable too) means the connect ended.
    watch = (koffi.node.poll as unknown as Poll)(fd, { writable: true }, () => check());
  });
}
