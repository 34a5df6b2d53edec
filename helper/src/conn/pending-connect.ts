// What the POSIX marked sockets (marked-socket_linux.ts, marked-socket_darwin.ts) do alike once
// connect() has been called on a non-blocking descriptor, free of any OS: wait until the socket is
// writable (libuv's poll; POLLERR/POLLHUP count as writable too), read SO_ERROR, honour the timeout
// and the abort signal, and hand the connected descriptor to net.Socket. The OS files pass in their
// own calls and errno values.

import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** An Error as Node's own socket errors look: `code` the errno name, `errno` negative. */
export function errnoError(errno: number, what: string, strerror: (errno: number) => string): Error {
  let code: string;
  try {
    // Node names errors by the platform it runs on, which is the OS whose errno this is.
    code = getSystemErrorName(-errno);
  } catch {
    code = `errno ${errno}`;
  }
  return Object.assign(new Error(`${what}: ${strerror(errno)} (${code})`), { code, errno: -errno });
}

/** A descriptor connect() was called on, and the OS's calls to finish with it. */
export interface PendingConnect {
  fd: number;
  /** connect() returned 0 (loopback can): nothing to wait for. */
  connectedAtOnce: boolean;
  close(fd: number): void;
  /** How the connect ended: SO_ERROR (0: connected), or the errno of getsockopt itself. */
  readResult(fd: number): { errno: number; what: string };
  /** Calls `onWritable` from the event loop when `fd` is writable. */
  pollWritable(fd: number, onWritable: () => void): { close(): void };
  strerror(errno: number): string;
  ECANCELED: number;
  ETIMEDOUT: number;
}

/** Resolves with the connected socket; rejects (closing the fd) on failure, timeout or abort. */
export function finishConnect(
  pending: PendingConnect,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Socket> {
  const { fd } = pending;
  return new Promise((resolve, reject) => {
    let watch: { close(): void } | undefined;
    let settled = false;
    const finish = (errno: number, what: string): void => {
      if (settled) return;
      settled = true;
      // The poll handle goes first: libuv must not have two watchers on one descriptor, and closing
      // it takes the fd out of epoll (kqueue) at once, before the TCP handle below adds it again.
      watch?.close();
      watch = undefined;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      if (errno !== 0) {
        pending.close(fd);
        reject(errnoError(errno, what, pending.strerror));
        return;
      }
      try {
        resolve(new Socket({ fd, readable: true, writable: true }));
      } catch (error) {
        pending.close(fd);
        reject(error as Error);
      }
    };
    const abort = (): void => finish(pending.ECANCELED, 'connect');
    const check = (): void => {
      const { errno, what } = pending.readResult(fd);
      finish(errno, what);
    };
    const timer = setTimeout(() => finish(pending.ETIMEDOUT, 'connect'), timeoutMs);
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort);
    if (pending.connectedAtOnce) {
      queueMicrotask(check);
      return;
    }
    // Writable (or in error: libuv reports POLLERR/POLLHUP as writable too) means the connect ended.
    watch = pending.pollWritable(fd, check);
  });
}
