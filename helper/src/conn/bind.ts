// The UDP side of the data path: one port, reachable over IPv4 and IPv6. One implementation per OS.

import { NotSupportedError, PhantomError } from '../../../shared/src/errors.ts';
import type { Endpoint } from '../../../shared/src/ip.ts';
import { openBindLinux } from './bind_linux.ts';

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
  if (process.platform === 'linux') return openBindLinux(options);
  throw new NotSupportedError('UDP sockets');
}
