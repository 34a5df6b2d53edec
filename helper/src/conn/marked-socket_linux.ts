// Linux: socket(), setsockopt(SO_MARK) and a non-blocking connect() through libc (koffi); the event
// loop waits for the socket to become writable (libuv's poll, as watchReadable does for reading),
// SO_ERROR says how the connect ended, and the connected descriptor becomes a net.Socket, which
// Node then treats as any TCP stream of its own (reads, writes, end, 'close', remoteAddress).

import type { Socket } from 'node:net';
import koffi from 'koffi';
import { parseIp } from '../../../shared/src/ip.ts';
import { EINTR, libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, strerror } from '../libc_linux.ts';
import type { MarkedConnectOptions } from './marked-socket.ts';
import { errnoError as pendingError, finishConnect } from './pending-connect.ts';
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

const errnoError = (errno: number, what: string): Error => pendingError(errno, what, strerror);

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

  return finishConnect(
    {
      fd,
      connectedAtOnce: result === 0,
      close: (fd) => c.close(fd),
      readResult: (fd) => {
        const value = new Int32Array(1);
        return c.getsockopt(fd, SOL_SOCKET, SO_ERROR, value, new Uint32Array([4])) < 0
          ? { errno: koffi.errno(), what: 'getsockopt(SO_ERROR)' }
          : { errno: value[0]!, what: 'connect' };
      },
      pollWritable: (fd, onWritable) =>
        (koffi.node.poll as unknown as Poll)(fd, { writable: true }, () => onWritable()),
      strerror,
      ECANCELED,
      ETIMEDOUT,
    },
    timeoutMs,
    signal,
  );
}
