// OS network configuration for a tunnel interface: addresses, MTU and link state, routes, and the
// policy routing of a full tunnel (every route through the tunnel but its own packets). One
// implementation per OS: net_linux.ts, full-tunnel_linux.ts.

import type { IpPrefix } from '../../../shared/src/ip.ts';
import { forPlatform } from '../for-platform.ts';
import { fullTunnelDarwin } from './full-tunnel_darwin.ts';
import * as fullTunnelLinux from './full-tunnel_linux.ts';
import * as darwin from './net_darwin.ts';
import * as linux from './net_linux.ts';
import * as win32 from './net_windows.ts';
import type { NetworkJournal } from './network-journal.ts';

export interface NetConfig {
  addAddress(ifname: string, prefix: IpPrefix): Promise<void>;
  setLinkUp(ifname: string, mtu: number): Promise<void>;
  addRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void>;
  deleteRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void>;
  linkExists(ifname: string): Promise<boolean>;
  deleteLink(ifname: string): Promise<void>;
}

/** This OS's implementation. Errors are PhantomErrors carrying the OS tool's own message. */
export function netConfig(): NetConfig {
  return forPlatform<NetConfig>('Network configuration', { linux, darwin, win32 });
}

export interface FullTunnelOptions {
  ifname: string;
  /** The SO_MARK of the tunnel's UDP socket; the table gets the same number (wg-quick). Absent, both
   *  are the first table from 51820 without routes, returned, and the caller must mark its socket. */
  fwmark?: number;
  /** The families whose default route goes into the tunnel. */
  families: { v4: boolean; v6: boolean };
  /** The interface's addresses: packets for them that come in on another interface are dropped. */
  addresses: IpPrefix[];
}

const fullTunnel = () =>
  forPlatform('Full-tunnel routing', { linux: fullTunnelLinux, darwin: fullTunnelDarwin, win32 });

/** Routes every family in `options.families` through the tunnel, except the tunnel's own marked
 *  packets, through the journal. All or nothing: on failure what was done is undone first. */
export function enableFullTunnel(
  journal: NetworkJournal,
  options: FullTunnelOptions,
): Promise<{ table: number; fwmark: number }> {
  return fullTunnel().enableFullTunnel(journal, options);
}

/** Undoes enableFullTunnel; nothing to undo is no error. */
export function disableFullTunnel(journal: NetworkJournal, ifname: string): Promise<void> {
  return fullTunnel().disableFullTunnel(journal, ifname);
}
