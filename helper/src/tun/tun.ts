// A TUN device as the data path sees it: IP packets in, IP packets out. One implementation per OS.

import { NotSupportedError } from '../../../shared/src/errors.ts';
import { openTunLinux } from './tun_linux.ts';

export interface Tun {
  readonly name: string;
  /** Starts reading; `onPacket` gets each IP packet. The buffer may be reused after the callback returns. */
  start(onPacket: (packet: Buffer) => void): void;
  /** Writes one IP packet; false when the kernel would block or refused it (packet dropped). */
  write(packet: Uint8Array): boolean;
  /**
   * Resolves with a reason when the device goes away (e.g. `ip link del`) or is closed. Deletion is
   * noticed by the reader, so only after start().
   */
  readonly closed: Promise<string>;
  close(): void;
}

/** Creates the TUN interface `name`; it must not exist yet. Addresses, MTU and link state are net/'s job. */
export function openTun(name: string): Tun {
  if (process.platform === 'linux') return openTunLinux(name);
  throw new NotSupportedError('TUN devices');
}
