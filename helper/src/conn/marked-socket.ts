// A TCP connection whose packets carry a firewall mark (SO_MARK), for the relay transports: a full
// tunnel's policy routing sends every unmarked packet into the tunnel, so the connection that carries
// the tunnel must be marked as the UDP socket is (bind.ts, setFwmark), or it would loop into itself.
// Node's net cannot set socket options before connecting, so each OS makes the socket itself and
// hands the connected descriptor to net.Socket.

import type { Socket } from 'node:net';
import { forPlatform } from '../for-platform.ts';
import { connectMarkedDarwin } from './marked-socket_darwin.ts';
import { connectMarkedLinux } from './marked-socket_linux.ts';
import { connectMarkedWindows } from './marked-socket_windows.ts';

export interface MarkedConnectOptions {
  /** An IP address literal (IPv4, or IPv6 without brackets): nothing is resolved here. */
  address: string;
  port: number;
  /** SO_MARK; nonzero (for 0, net.connect does the same without any of this). */
  mark: number;
  timeoutMs: number;
  /** Aborting closes the half-made socket and rejects. */
  signal?: AbortSignal;
}

/**
 * Connects and resolves with the connected socket (no 'connect' event follows: it is connected
 * already). Rejects with an Error whose `code` is the errno name (ECONNREFUSED, ETIMEDOUT, EPERM for
 * SO_MARK without CAP_NET_ADMIN, ...).
 */
export function connectMarked(options: MarkedConnectOptions): Promise<Socket> {
  return forPlatform('TCP connections with a firewall mark', {
    linux: connectMarkedLinux,
    darwin: connectMarkedDarwin,
    win32: connectMarkedWindows,
  })(options);
}
