// A TUN device as the data path sees it: IP packets in, IP packets out. One implementation per OS.

import { forPlatform } from '../for-platform.ts';
import { openTunDarwin } from './tun_darwin.ts';
import { openTunLinux } from './tun_linux.ts';
import { openTunWindows } from './tun_windows.ts';

export interface TunOptions {
  /** The link's MTU at creation (wireguard-go's CreateTUN sets its 1420); omitted, the OS's default. */
  mtu?: number;
}

export interface Tun {
  readonly name: string;
  /** The link's MTU as last seen: set at open, then followed (`ip link set DEV mtu N`) once started. */
  readonly mtu: number;
  /**
   * Starts reading; `onPacket` gets each IP packet. The buffer may be reused after the callback
   * returns. `onWriteFailures` hears of packets that write() queued and the kernel then refused;
   * `onMtu` of each change of the link's MTU, also after the link moved to another namespace.
   */
  start(
    onPacket: (packet: Buffer) => void,
    onWriteFailures?: (count: number) => void,
    onMtu?: (mtu: number) => void,
  ): void;
  /**
   * Writes one IP packet, or queues it (copied) to be written with the rest of its batch; false when
   * it was dropped at once (device closed, kernel refused it).
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

/**
 * Creates the TUN interface `name` (it must not exist yet), with `options.mtu` if given. Addresses,
 * later MTU changes and link state are net/'s job (or `ip`'s).
 */
export function openTun(name: string, options: TunOptions = {}): Tun {
  return forPlatform('TUN devices', { linux: openTunLinux, darwin: openTunDarwin, win32: openTunWindows })(
    name,
    options,
  );
}
