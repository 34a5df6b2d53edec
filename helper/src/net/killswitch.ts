// The kill switch: while on, no packet leaves or enters outside the tunnels, except what the machine
// needs to keep its network and to reach the tunnels' endpoints. One implementation per OS:
// killswitch_linux.ts (an nft table).

import type { Endpoint } from '../../../shared/src/ip.ts';
import { forPlatform } from '../for-platform.ts';
import { killSwitchDarwin as darwin } from './killswitch_darwin.ts';
import * as linux from './killswitch_linux.ts';
import * as win32 from './killswitch_windows.ts';
import type { NetworkJournal } from './network-journal.ts';

/** An endpoint; `protocol` absent is UDP (WireGuard's own), tcp is a relay's or a proxy's port. */
export type KillSwitchEndpoint = Endpoint & { protocol?: 'udp' | 'tcp' };

export interface KillSwitchTunnel {
  ifname: string;
  /** The peers' endpoints (UDP), and the relays or proxies a tunnel reaches its peer through (TCP):
   *  the only traffic that may leave outside the tunnels. */
  endpoints: KillSwitchEndpoint[];
  /** The only servers DNS (port 53) may reach, and only through this tunnel. None: any server, as
   *  long as the query goes through the tunnel. */
  dns: string[];
  /** The SO_MARK of the tunnel's own UDP socket: only packets carrying it may reach the endpoints, so
   *  no other process can send there outside the tunnel. 0 (an unmarked socket): no exception at all. */
  fwmark: number;
}

/** What is on the machine's own links (not loopback, not tunnels), as readLocalNetworks() reads it. */
export interface LocalNetworks {
  /** The subnets of the addresses on those interfaces, canonical: `192.168.1.0/24`, `fd00:5::/64`. */
  subnets: string[];
  /** Where a DHCPv4 client's unicast (a renewal) may go besides 255.255.255.255: the IPv4 default
   *  gateways on those interfaces, inside one of their subnets. The kernel does not know the lease's
   *  server; a server elsewhere gets the renewal by broadcast (rebinding) instead. */
  dhcpServers: string[];
}

export interface KillSwitchSettings {
  enabled: boolean;
  /** Also allow the local networks: `local.subnets`, link-local addresses and local multicast. */
  allowLan: boolean;
  /** The machine's local networks now (readLocalNetworks): read again and applied again when the
   *  addresses change. Absent: none known, so nothing but broadcast DHCP and neighbour discovery. */
  local?: LocalNetworks;
  tunnels: KillSwitchTunnel[];
}

/** The local networks as the kernel has them now, leaving out `tunnels` (the interfaces of tunnels),
 *  loopback and point-to-point or TUN links (other VPNs). */
export function readLocalNetworks(tunnels: readonly string[]): Promise<LocalNetworks> {
  return forPlatform('The kill switch', { linux, darwin, win32 }).readLocalNetworks(tunnels);
}

/** Turns the kill switch on with these exceptions (replacing the previous ones at once), or off. */
export function setKillSwitch(journal: NetworkJournal, settings: KillSwitchSettings): Promise<void> {
  return forPlatform('The kill switch', { linux, darwin, win32 }).setKillSwitch(journal, settings);
}

export interface KillSwitchCheck {
  /** intact: as applied (or no kill switch is on); missing: the table is gone; changed: it differs. */
  status: 'intact' | 'missing' | 'changed';
  /** What the table looks like now, to pass as `expected` next time (null: no table). */
  listing: string | null;
}

/**
 * A cheap check that the kill switch is still in force as applied: `expected` is the `listing` a
 * check returned right after it was applied. Another program (`nft flush ruleset`, a firewall manager)
 * may have removed or changed it; the caller applies it again.
 */
export function checkKillSwitch(journal: NetworkJournal, expected?: string): Promise<KillSwitchCheck> {
  return forPlatform('The kill switch', { linux, darwin, win32 }).checkKillSwitch(journal, expected);
}

/** The blocking ruleset with no tunnel up, as a script a boot service loads (lockdown before the helper). */
export function blockingRuleset(allowLan: boolean): string {
  return forPlatform('The kill switch', { linux, darwin, win32 }).killSwitchRuleset({
    allowLan,
    tunnels: [],
  });
}
