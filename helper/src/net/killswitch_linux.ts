// The kill switch on Linux: one nft table of our own, `inet phantommesh`, whose base chains drop
// every packet (IPv4 and IPv6) that does not go through a tunnel, except what the machine needs to
// keep its network and to reach the tunnels' endpoints. A drop in any base chain is final, so other
// firewalls' accept rules cannot open a hole in it. It names interfaces and endpoints, not tunnel
// state, so it holds while a tunnel reconnects or its interface is re-created; an update replaces
// the table in one transaction, so there is never a moment without it.
//
// Each exception is as narrow as what needs it:
// - DHCPv4 requests go to 255.255.255.255 or to a default gateway on the link (LocalNetworks), DHCPv6
//   from and to link-local addresses (ff02::1:2, fe80::/10);
// - neighbour discovery goes to link-local and link-scope multicast addresses, and is taken from
//   link-local ones, always with hop limit 255 (RFC 4861: it never crossed a router);
// - an endpoint is reached only by packets with the tunnel's mark: the helper's own UDP socket;
// - the LAN (opt-in) is the subnets actually on the machine's links, link-local and local
//   multicast: a route towards anything else, even through the LAN's gateway, opens nothing;
// - DNS leaves only through a tunnel, to that tunnel's servers; IPv6 in clear has no exception but
//   the above, whatever the tunnels route.
// The journal keeps the settings, not the script: recovery builds the script again from them.

import { z } from '../../../shared/src/zod.ts';
import { formatPrefix, maskedPrefix, parsePrefix, type IpPrefix } from '../../../shared/src/ip.ts';
import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import type { KillSwitchSettings, KillSwitchTunnel, LocalNetworks } from './killswitch.ts';
import {
  checkedDnsServers,
  checkedEndpoints,
  checkedLocal,
  DHCP_BROADCAST,
  GROUPS_V4,
  GROUPS_V6,
  invalid,
  LINK_LOCAL_V4,
  LINK_LOCAL_V6,
  localNetworksOf,
  ND_TO,
  rulesetInputOf,
  type KillSwitchRulesetInput,
} from './killswitch-settings.ts';
import type { NetworkJournal } from './network-journal.ts';
import { ipJson, listNftTable } from './net_linux.ts';

export type { KillSwitchSettings, KillSwitchTunnel, LocalNetworks } from './killswitch.ts';
export {
  killSwitchRulesetInput,
  rulesetInputOf,
  type KillSwitchRulesetInput,
} from './killswitch-settings.ts';

export const KILL_SWITCH_TABLE = 'phantommesh';

/** An nft anonymous set, or the single value. */
const anyOf = (items: readonly string[]): string =>
  items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
const quoted = (name: string): string => `"${name}"`;

function tunnelRules(tunnel: KillSwitchTunnel): { endpoints: string[]; dns: string[] } {
  if (!isInterfaceName(tunnel.ifname)) throw invalid(`"${tunnel.ifname}" is not an interface name`);
  const checked = checkedEndpoints(tunnel);
  const { mark } = checked;
  const endpoints = checked.endpoints.map(
    ({ address, family, port, protocol }) =>
      `meta mark ${mark} ${family === 4 ? 'ip' : 'ip6'} daddr ${address} ${protocol} dport ${port} accept`,
  );
  const oif = `oifname ${quoted(tunnel.ifname)}`;
  const servers = checkedDnsServers(tunnel);
  const dns =
    servers.length === 0
      ? [`${oif} accept`]
      : ([4, 6] as const).flatMap((family) => {
          const ofFamily = servers.filter((server) => server.family === family).map((s) => s.address);
          if (ofFamily.length === 0) return [];
          return [`${oif} ${family === 4 ? 'ip' : 'ip6'} daddr ${anyOf([...new Set(ofFamily)])} accept`];
        });
  // A socket without a mark cannot be told from any other process's: its endpoints get no exception.
  return { endpoints: mark === 0 ? [] : endpoints, dns };
}

/** The kill switch's nft script: it replaces the table in one transaction. */
export function killSwitchRuleset(settings: KillSwitchRulesetInput): string {
  const perTunnel = settings.tunnels.map(tunnelRules);
  const names = [...new Set(settings.tunnels.map((tunnel) => quoted(tunnel.ifname)))];
  const tunnels = names.length === 0 ? undefined : anyOf(names);
  const { subnets, dhcpServers } = checkedLocal(settings);
  const subnetsOf = (family: 4 | 6): string[] =>
    subnets.filter((subnet) => subnet.family === family).map(formatPrefix);
  const unique = (items: string[]): string[] => [...new Set(items)];
  const lan = settings.allowLan;
  const fromLanV4 = unique([...subnetsOf(4), LINK_LOCAL_V4]);
  const fromLanV6 = unique([...subnetsOf(6), LINK_LOCAL_V6]);
  const lanV4 = [...fromLanV4, ...GROUPS_V4];
  const lanV6 = [...fromLanV6, ...GROUPS_V6];
  const chain = (name: string, hook: string | undefined, rules: (string | false | undefined)[]): string[] => [
    `  chain ${name} {`,
    ...(hook ? [`    type filter hook ${hook} priority filter; policy drop;`] : []),
    ...rules.filter((rule): rule is string => typeof rule === 'string').map((rule) => `    ${rule}`),
    '  }',
  ];
  const dnsJump = 'meta l4proto { tcp, udp } th dport 53 jump dns';
  const lanOut = [lan && `ip daddr ${anyOf(lanV4)} accept`, lan && `ip6 daddr ${anyOf(lanV6)} accept`];
  return [
    `table inet ${KILL_SWITCH_TABLE}`,
    `delete table inet ${KILL_SWITCH_TABLE}`,
    `table inet ${KILL_SWITCH_TABLE} {`,
    ...chain('input', 'input', [
      'iifname "lo" accept',
      tunnels && `iifname ${tunnels} accept`,
      'ct state established,related accept',
      // DHCP answers may be broadcast, which conntrack does not pair with the request.
      'udp sport 67 udp dport 68 accept',
      'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
      // Neighbour discovery, without which IPv6 reaches nothing, not even the endpoint; hop limit 255
      // proves it came from the link itself.
      'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } ' +
        'ip6 hoplimit 255 ip6 saddr fe80::/10 accept',
      lan && `ip saddr ${anyOf(fromLanV4)} accept`,
      lan && `ip6 saddr ${anyOf(fromLanV6)} accept`,
    ]),
    ...chain('output', 'output', [
      'oifname "lo" accept',
      // Before the DNS rule: an endpoint may well listen on port 53.
      ...perTunnel.flatMap((rules) => rules.endpoints),
      dnsJump,
      tunnels && `oifname ${tunnels} accept`,
      `ip daddr ${anyOf(unique([DHCP_BROADCAST, ...dhcpServers]))} udp sport 68 udp dport 67 accept`,
      'ip6 saddr fe80::/10 ip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept',
      'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 ' +
        `ip6 daddr ${anyOf(ND_TO)} accept`,
      ...lanOut,
    ]),
    ...chain('forward', 'forward', [
      tunnels && `iifname ${tunnels} ct state established,related accept`,
      dnsJump,
      tunnels && `oifname ${tunnels} accept`,
      ...lanOut,
    ]),
    // DNS goes only through a tunnel, to that tunnel's servers; loopback (a local stub resolver) was
    // accepted before the jump.
    ...chain('dns', undefined, [...perTunnel.flatMap((rules) => rules.dns), 'drop']),
    '}',
    '',
  ].join('\n');
}

/** Turns the kill switch on with these exceptions (replacing the previous ones at once), or off. */
export function setKillSwitch(journal: NetworkJournal, settings: KillSwitchSettings): Promise<void> {
  if (!settings.enabled) return journal.undo((change) => change.kind === 'kill-switch');
  killSwitchRuleset(settings); // refuses what it cannot express, before anything is recorded
  return journal.apply({ kind: 'kill-switch', table: KILL_SWITCH_TABLE, settings: rulesetInputOf(settings) });
}

// ---------------------------------------------------------------------------------------------
// The local networks, from the kernel.

const addressList = z.array(
  z.object({
    ifname: z.string(),
    flags: z._default(z.array(z.string()), []),
    link_type: z.optional(z.string()),
    addr_info: z._default(
      z.array(
        z.object({
          family: z.string(),
          local: z.optional(z.string()),
          address: z.optional(z.string()),
          prefixlen: z.optional(z.int()),
          scope: z.optional(z.string()),
        }),
      ),
      [],
    ),
  }),
);
const routeList = z.array(
  z.object({
    dst: z.string(),
    gateway: z.optional(z.string()),
    dev: z.optional(z.string()),
    type: z.optional(z.string()),
  }),
);

/**
 * The local networks from `ip -j address show` and `ip -j -4 route show table all`, leaving out the
 * interfaces named in `tunnels`, loopback, point-to-point links and links without a hardware type
 * (TUN and WireGuard devices: other VPNs), and host-scope and link-local addresses (link-local is
 * allowed as a whole). A DHCP server is a default route's gateway on one of the links that remain,
 * inside one of their subnets.
 */
export function localNetworksFrom(
  addresses: unknown,
  routes: unknown,
  tunnels: readonly string[],
): LocalNetworks {
  const links = addressList
    .parse(addresses)
    .filter(
      (link) =>
        !tunnels.includes(link.ifname) &&
        !link.flags.includes('LOOPBACK') &&
        !link.flags.includes('POINTOPOINT') &&
        link.link_type !== 'none' &&
        link.link_type !== 'loopback',
    );
  const subnetsOf = new Map<string, IpPrefix[]>();
  for (const link of links) {
    const subnets: IpPrefix[] = [];
    for (const info of link.addr_info) {
      if (info.family !== 'inet' && info.family !== 'inet6') continue;
      if (info.scope === 'host' || info.scope === 'link' || info.address !== undefined) continue;
      const parsed = parsePrefix(`${info.local}/${info.prefixlen}`);
      if (!parsed || parsed.bits === 0) continue;
      subnets.push(maskedPrefix(parsed));
    }
    subnetsOf.set(link.ifname, subnets);
  }
  const gateways = routeList
    .parse(routes)
    .filter((route) => route.dst === 'default' && (route.type ?? 'unicast') === 'unicast' && route.gateway)
    .map((route) => ({ gateway: route.gateway!, link: route.dev ?? '' }));
  return localNetworksOf(subnetsOf, gateways);
}

/** The local networks as the kernel has them now (see localNetworksFrom). */
export async function readLocalNetworks(tunnels: readonly string[]): Promise<LocalNetworks> {
  const [addresses, routes] = await Promise.all([
    ipJson(['address', 'show']),
    ipJson(['-4', 'route', 'show', 'table', 'all']),
  ]);
  return localNetworksFrom(addresses, routes, tunnels);
}

/**
 * Whether the kill switch's table is still as the helper left it: `expected` is what a previous check
 * returned as `listing` right after the table was applied (omitted: just read it). With no kill switch
 * in the journal there is nothing to check. Cheap: one `nft list table`.
 */
export async function checkKillSwitch(
  journal: NetworkJournal,
  expected?: string,
): Promise<{ status: 'intact' | 'missing' | 'changed'; listing: string | null }> {
  if (!journal.changes.some((change) => change.kind === 'kill-switch'))
    return { status: 'intact', listing: null };
  const listing = await listNftTable('inet', KILL_SWITCH_TABLE);
  if (listing === null) return { status: 'missing', listing };
  return { status: expected === undefined || listing === expected ? 'intact' : 'changed', listing };
}
