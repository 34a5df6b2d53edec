// The kill switch on Linux: one nft table of our own, `inet phantommesh`, whose base chains drop
// every packet (IPv4 and IPv6) that does not go through a tunnel, except what the machine needs to
// keep its network and to reach the tunnels' endpoints. A drop in any base chain is final, so other
// firewalls' accept rules cannot open a hole in it. It names interfaces and endpoints, not tunnel
// state, so it holds while a tunnel reconnects or its interface is re-created; an update replaces
// the table in one transaction, so there is never a moment without it.

import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp } from '../../../shared/src/ip.ts';
import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import type { KillSwitchSettings, KillSwitchTunnel } from './killswitch.ts';
import type { NetworkJournal } from './network-journal.ts';
import { listNftTable } from './net_linux.ts';

export type { KillSwitchSettings, KillSwitchTunnel } from './killswitch.ts';

export const KILL_SWITCH_TABLE = 'phantommesh';

const LAN_V4 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'];
const LAN_V6 = ['fe80::/10', 'fc00::/7'];
// Multicast that stays on the link or the site (mDNS, SSDP and the like), and broadcast.
const LAN_MULTICAST_V4 = ['224.0.0.0/24', '239.0.0.0/8', '255.255.255.255'];
const LAN_MULTICAST_V6 = ['ff01::/16', 'ff02::/16', 'ff05::/16'];

/** An nft anonymous set, or the single value. */
const anyOf = (items: readonly string[]): string =>
  items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
const quoted = (name: string): string => `"${name}"`;

function invalid(message: string): PhantomError {
  return new PhantomError('KILL_SWITCH_INVALID', message);
}

/** An address as nft needs it: canonical, with its family. */
function checkedAddress(text: string, what: string): { address: string; family: 4 | 6 } {
  const bytes = parseIp(text);
  if (!bytes) throw invalid(`${what} "${text}" is not an IP address`);
  return { address: formatIp(bytes), family: bytes.length === 4 ? 4 : 6 };
}

function tunnelRules(tunnel: KillSwitchTunnel): { endpoints: string[]; dns: string[] } {
  if (!isInterfaceName(tunnel.ifname)) throw invalid(`"${tunnel.ifname}" is not an interface name`);
  const mark = tunnel.fwmark;
  if (mark !== undefined && (!Number.isInteger(mark) || mark < 1 || mark > 0xffffffff))
    throw invalid(`${tunnel.ifname}: fwmark ${mark} is not a number from 1 to 4294967295`);
  const endpoints = tunnel.endpoints.map((endpoint) => {
    const { address, family } = checkedAddress(endpoint.address, `${tunnel.ifname}: endpoint`);
    if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535)
      throw invalid(`${tunnel.ifname}: endpoint port ${endpoint.port} is not a number from 1 to 65535`);
    const marked = mark === undefined ? '' : `meta mark ${mark} `;
    return `${marked}${family === 4 ? 'ip' : 'ip6'} daddr ${address} udp dport ${endpoint.port} accept`;
  });
  const oif = `oifname ${quoted(tunnel.ifname)}`;
  const servers = tunnel.dns.map((server) => checkedAddress(server, `${tunnel.ifname}: DNS server`));
  const dns =
    servers.length === 0
      ? [`${oif} accept`]
      : ([4, 6] as const).flatMap((family) => {
          const ofFamily = servers.filter((server) => server.family === family).map((s) => s.address);
          if (ofFamily.length === 0) return [];
          return [`${oif} ${family === 4 ? 'ip' : 'ip6'} daddr ${anyOf([...new Set(ofFamily)])} accept`];
        });
  return { endpoints, dns };
}

/** The kill switch's nft script: it replaces the table in one transaction. */
export function killSwitchRuleset(settings: Omit<KillSwitchSettings, 'enabled'>): string {
  const perTunnel = settings.tunnels.map(tunnelRules);
  const names = [...new Set(settings.tunnels.map((tunnel) => quoted(tunnel.ifname)))];
  const tunnels = names.length === 0 ? undefined : anyOf(names);
  const lan = settings.allowLan;
  const chain = (name: string, hook: string | undefined, rules: (string | false | undefined)[]): string[] => [
    `  chain ${name} {`,
    ...(hook ? [`    type filter hook ${hook} priority filter; policy drop;`] : []),
    ...rules.filter((rule): rule is string => typeof rule === 'string').map((rule) => `    ${rule}`),
    '  }',
  ];
  const dnsJump = 'meta l4proto { tcp, udp } th dport 53 jump dns';
  const lanOut = [
    lan && `ip daddr ${anyOf([...LAN_V4, ...LAN_MULTICAST_V4])} accept`,
    lan && `ip6 daddr ${anyOf([...LAN_V6, ...LAN_MULTICAST_V6])} accept`,
  ];
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
        'ip6 hoplimit 255 accept',
      lan && `ip saddr ${anyOf(LAN_V4)} accept`,
      lan && `ip6 saddr ${anyOf(LAN_V6)} accept`,
    ]),
    ...chain('output', 'output', [
      'oifname "lo" accept',
      // Before the DNS rule: an endpoint may well listen on port 53.
      ...perTunnel.flatMap((rules) => rules.endpoints),
      dnsJump,
      tunnels && `oifname ${tunnels} accept`,
      'udp sport 68 udp dport 67 accept',
      'ip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept',
      'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept',
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
  return journal.apply({
    kind: 'kill-switch',
    table: KILL_SWITCH_TABLE,
    ruleset: killSwitchRuleset(settings),
  });
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
