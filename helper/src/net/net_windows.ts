// Addresses, MTU and routes of a tunnel's Wintun adapter (iphlpapi through koffi), and a full tunnel
// the way wireguard-windows makes one: the default routes on the adapter with a fixed, lowest
// interface metric, while the tunnel's own UDP leaves by the physical default interface
// (IP_UNICAST_IF, bind_windows.ts) and its relay's TCP from that interface's address
// (marked-socket_windows.ts), so nothing loops. Windows has no routing tables or fwmarks: a table
// other than the main one is refused, and the "fwmark" returned is the one given (the kill switch's
// exception for the tunnel's socket is by program, see wfp-plan_windows.ts).

import { PhantomError } from '../../../shared/src/errors.ts';
import type { IpPrefix } from '../../../shared/src/ip.ts';
import * as ip from './ipconfig_windows.ts';
import type { FullTunnelOptions } from './net.ts';
import type { WindowsJournal } from './network-changes_windows.ts';
import type { NetworkJournal } from './network-journal.ts';

/** wireguard-windows' metric for a tunnel that takes the default route. */
export const FULL_TUNNEL_METRIC = 0;

function noTables(ifname: string, table: string | undefined): void {
  if (table !== undefined && table !== 'main')
    throw new PhantomError(
      'TABLE_NOT_SUPPORTED',
      `${ifname}: Windows has one routing table; Table = ${table} cannot be honoured (use Table = off or auto)`,
    );
}

export async function addAddress(ifname: string, prefix: IpPrefix): Promise<void> {
  ip.addAddress(ip.requireLuid(ifname), prefix);
}

export async function setLinkUp(ifname: string, mtu: number): Promise<void> {
  // A Wintun adapter is up while its session runs; what is left is the MTU of both families.
  const luid = ip.requireLuid(ifname);
  ip.setInterface(luid, 4, { mtu });
  ip.setInterface(luid, 6, { mtu: Math.max(mtu, 1280) });
}

export async function addRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  noTables(ifname, table);
  ip.addRoute(ip.requireLuid(ifname), prefix);
}

export async function deleteRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  noTables(ifname, table);
  const luid = ip.interfaceLuid(ifname);
  if (luid !== null) ip.deleteRoute(luid, prefix);
}

export async function linkExists(ifname: string): Promise<boolean> {
  return ip.interfaceLuid(ifname) !== null;
}

/** A Wintun adapter is removed by closing the session that made it (tun_windows.ts); one held by
 *  another process cannot be taken from it here. */
export async function deleteLink(ifname: string): Promise<void> {
  if (ip.interfaceLuid(ifname) === null) return;
  throw new PhantomError(
    'INTERFACE_BUSY',
    `${ifname} belongs to a running program; it goes away when that program closes it (or ends)`,
  );
}

const FULL_TUNNEL_KINDS = new Set(['route', 'interface-metric']);

export async function enableFullTunnel(
  journal: NetworkJournal,
  options: FullTunnelOptions,
): Promise<{ table: number; fwmark: number }> {
  const windows = journal as unknown as WindowsJournal;
  const { ifname } = options;
  const families = ([4, 6] as const).filter((family) => options.families[family === 4 ? 'v4' : 'v6']);
  if (families.length === 0)
    throw new PhantomError('FULL_TUNNEL_INVALID', `${ifname}: a full tunnel needs IPv4 or IPv6 (or both)`);
  const luid = String(ip.requireLuid(ifname));
  try {
    for (const family of families) {
      await windows.apply({ kind: 'interface-metric', ifname, luid, family, metric: FULL_TUNNEL_METRIC });
      const destination = family === 4 ? '0.0.0.0/0' : '::/0';
      await windows.apply({ kind: 'route', ifname, luid, destination, metric: 0 });
    }
  } catch (error) {
    await disableFullTunnel(journal, ifname).catch(() => undefined);
    throw error;
  }
  return { table: 0, fwmark: options.fwmark ?? 0 };
}

export function disableFullTunnel(journal: NetworkJournal, ifname: string): Promise<void> {
  const windows = journal as unknown as WindowsJournal;
  return windows.undo(
    (change) => FULL_TUNNEL_KINDS.has(change.kind) && 'ifname' in change && change.ifname === ifname,
  );
}
