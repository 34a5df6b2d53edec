// The data path's transport: how WireGuard datagrams leave and arrive. A Bind is transport-neutral
// (datagrams to and from endpoints); UDP (one port, reachable over IPv4 and IPv6) is the one transport
// today, opened by openBind with one implementation per OS (bind_linux.ts). Another transport (say,
// datagrams over TCP) would be another Bind beside it, opened by a function of its own.

import { PhantomError } from '../../../shared/src/errors.ts';
import type { Endpoint } from '../../../shared/src/ip.ts';
import { forPlatform } from '../for-platform.ts';
import { openBindDarwin } from './bind_darwin.ts';
import { openBindLinux } from './bind_linux.ts';
import { openBindWindows } from './bind_windows.ts';

export interface Bind {
  readonly port: number;
  /** Never throws for a transient send error (it is counted and logged); the packet is lost like any UDP packet. */
  send(packet: Uint8Array, to: Endpoint): void;
  /** Sets SO_MARK on every socket so policy routing can exempt our own traffic; 0 clears it. */
  setFwmark(mark: number): void;
  close(): Promise<void>;
}

export interface BindOptions {
  /** 0 picks a random port that is free for both IPv4 and IPv6. */
  port: number;
  fwmark?: number;
  /**
   * The buffer is valid only during the call (the next datagram reuses the memory): copy what you keep.
   * IPv4-mapped IPv6 sources arrive as plain IPv4.
   */
  onDatagram: (packet: Buffer, from: Endpoint) => void;
}

export async function openBind(options: BindOptions): Promise<Bind> {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
    throw new PhantomError('PORT_INVALID', `UDP port ${options.port} is not a number from 0 to 65535`);
  return forPlatform('UDP sockets', { linux: openBindLinux, darwin: openBindDarwin, win32: openBindWindows })(
    options,
  );
}
