// The kill switch's settings as every OS's firewall is built from them, free of any OS: the schema the
// journal keeps them in (checked again when read back, since recovery builds the rules from these,
// never from stored text), the checks of each address, subnet, endpoint and DNS server before a rule
// names it, the LAN's fixed exceptions, and what the local networks are once an OS has listed its
// links' subnets and default gateways. The nft (killswitch_linux.ts), pf (killswitch_darwin.ts) and
// WFP (killswitch_windows.ts) backends only turn these into their own rules.

import { z } from '../../../shared/src/zod.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import {
  formatIp,
  formatPrefix,
  maskedPrefix,
  parseIp,
  parsePrefix,
  type IpPrefix,
} from '../../../shared/src/ip.ts';
import type { KillSwitchSettings, KillSwitchTunnel, LocalNetworks } from './killswitch.ts';
import {
  addressSchema as address,
  familySchema,
  ifnameSchema,
  prefixSchema as prefix,
} from './record-schemas.ts';

// With the LAN allowed, besides its subnets: link-local addresses, and to link-local multicast
// (mDNS, LLMNR and the like), SSDP's group and broadcast.
export const LINK_LOCAL_V4 = '169.254.0.0/16';
export const LINK_LOCAL_V6 = 'fe80::/10';
export const GROUPS_V4 = ['224.0.0.0/24', '239.255.255.250', '255.255.255.255'];
export const GROUPS_V6 = ['ff01::/16', 'ff02::/16'];
/** Where neighbour discovery may go: link-local addresses and link-scope multicast. */
export const ND_TO = ['fe80::/10', 'ff02::/16'];
export const DHCP_BROADCAST = '255.255.255.255';

/** What the rules are built from: what the journal keeps (see killSwitchRulesetInput). */
export type KillSwitchRulesetInput = Omit<KillSwitchSettings, 'enabled'>;

/** The kill switch's settings as the journal keeps them, checked again when read back: recovery
 *  builds the rules from these, never from stored text. */
export const killSwitchRulesetInput = z.object({
  allowLan: z.boolean(),
  local: z.optional(z.object({ subnets: z.array(prefix), dhcpServers: z.array(address) })),
  tunnels: z.array(
    z.object({
      ifname: ifnameSchema,
      endpoints: z.array(
        z.object({
          address,
          port: z.int().check(z.minimum(1), z.maximum(65535)),
          family: familySchema,
          protocol: z.optional(z.enum(['udp', 'tcp'])),
        }),
      ),
      dns: z.array(address),
      fwmark: z.int().check(z.minimum(0), z.maximum(0xffffffff)),
    }),
  ),
});

/** Exactly the fields the rules are built from, whatever else the caller's settings carry. */
export function rulesetInputOf(settings: KillSwitchRulesetInput): KillSwitchRulesetInput {
  return killSwitchRulesetInput.parse({
    allowLan: settings.allowLan,
    ...(settings.local ? { local: settings.local } : {}),
    tunnels: settings.tunnels,
  });
}

export function invalid(message: string): PhantomError {
  return new PhantomError('KILL_SWITCH_INVALID', message);
}

/** An address as a rule needs it: canonical, with its family. */
export function checkedAddress(text: string, what: string): { address: string; family: 4 | 6 } {
  const bytes = parseIp(text);
  if (!bytes) throw invalid(`${what} "${text}" is not an IP address`);
  return { address: formatIp(bytes), family: bytes.length === 4 ? 4 : 6 };
}

/** A subnet as a rule needs it: canonical, host bits cleared (nft refuses them). */
export function checkedSubnet(text: string): IpPrefix {
  const parsed = text.includes('/') ? parsePrefix(text) : null;
  if (!parsed) throw invalid(`local subnet "${text}" is not an IP prefix`);
  return maskedPrefix(parsed);
}

/** The local networks, checked: the subnets, and the DHCP servers (IPv4 only). */
export function checkedLocal(settings: KillSwitchRulesetInput): {
  subnets: IpPrefix[];
  dhcpServers: string[];
} {
  const local = settings.local ?? { subnets: [], dhcpServers: [] };
  const subnets = local.subnets.map(checkedSubnet);
  const dhcpServers = local.dhcpServers.map((server) => {
    const checked = checkedAddress(server, 'DHCP server');
    if (checked.family !== 4) throw invalid(`DHCP server "${server}" is not an IPv4 address`);
    return checked.address;
  });
  return { subnets, dhcpServers };
}

/** A tunnel's mark and endpoints, checked (the interface name is the backend's to check). */
export function checkedEndpoints(tunnel: KillSwitchTunnel): {
  mark: number;
  endpoints: { address: string; family: 4 | 6; port: number; protocol: 'udp' | 'tcp' }[];
} {
  const mark = tunnel.fwmark;
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
    throw invalid(`${tunnel.ifname}: fwmark ${mark} is not a number from 0 to 4294967295`);
  const endpoints = tunnel.endpoints.map((endpoint) => {
    const { address, family } = checkedAddress(endpoint.address, `${tunnel.ifname}: endpoint`);
    if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535)
      throw invalid(`${tunnel.ifname}: endpoint port ${endpoint.port} is not a number from 1 to 65535`);
    const protocol: 'udp' | 'tcp' = endpoint.protocol === 'tcp' ? 'tcp' : 'udp';
    return { address, family, port: endpoint.port, protocol };
  });
  return { mark, endpoints };
}

/** A tunnel's DNS servers, checked. */
export function checkedDnsServers(tunnel: KillSwitchTunnel): { address: string; family: 4 | 6 }[] {
  return tunnel.dns.map((server) => checkedAddress(server, `${tunnel.ifname}: DNS server`));
}

/** Whether the address is inside the subnet. */
function contains(subnet: IpPrefix, text: string): boolean {
  const bytes = parseIp(text);
  if (!bytes || (bytes.length === 4 ? 4 : 6) !== subnet.family) return false;
  return (
    maskedPrefix({ address: formatIp(bytes), bits: subnet.bits, family: subnet.family }).address ===
    subnet.address
  );
}

/**
 * The local networks from the subnets of each link that counts (as the OS decided) and the default
 * routes' gateways with their links: a DHCP server is an IPv4 gateway inside one of its own link's
 * subnets.
 */
export function localNetworksOf(
  subnetsOf: ReadonlyMap<string, IpPrefix[]>,
  gateways: readonly { gateway: string; link: string }[],
): LocalNetworks {
  const all = [...subnetsOf.values()].flat();
  const dhcpServers = gateways
    .filter(({ gateway, link }) => (subnetsOf.get(link) ?? []).some((s) => contains(s, gateway)))
    .map(({ gateway }) => formatIp(parseIp(gateway)!));
  return {
    subnets: [...new Set(all.map(formatPrefix))],
    dhcpServers: [...new Set(dhcpServers)].filter((server) => server.includes('.')),
  };
}
