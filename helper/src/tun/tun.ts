// A TUN device as the data path sees it: IP packets in, IP packets out. One implementation per OS.

import { forPlatform } from '../for-platform.ts';
import { openTunLinux } from './tun_linux.ts';

export interface Tun {
  readonly name: string;
  /**
   * Starts reading; `onPacket` gets each IP packet. The buffer may be reused after the callback
   * returns. `onWriteFailures` hears of packets that write() queued and the kernel then refused.
   */
  start(onPacket: (packet: Buffer) => void, onWriteFailures?: (count: number) => void): void;
  /**
   * Writes one IP packet, or queues it for a writer thread (the packet is copied); false when it was
   * dropped at once (device closed, kernel refused it).
   */
  write(packet: Uint8Array): boolean;
  /**
   * Resolves with a reason when the device goes away (e.g. `ip link del`) or is closed. Deletion is
   * noticed by the reader, so only after start().
   */
  readonly closed: Promise<string>;
  /** Resolves once the device's fd is closed, and with it the interface gone. */
  close(): Promise<void>;
}

/** Creates the TUN interface `name`; it must not exist yet. Addresses, MTU and link state are net/'s job. */
export function openTun(name: string): Tun {
  return forPlatform('TUN devices', { linux: openTunLinux })(name);
}
