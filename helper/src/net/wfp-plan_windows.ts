// The Windows kill switch as a plan: the list of WFP filters (layer, action, weight, conditions) that
// enforces the same policy as the Linux nft table (killswitch_linux.ts), built from the same settings
// and nothing else. Pure: killswitch_windows.ts turns each filter into FWPM_FILTER0 and adds them all
// in one transaction; the unit tests read the plan on any OS.
//
// All filters live in one sublayer of ours. Within a sublayer the matching filter of highest weight
// decides, and a block in any sublayer wins over a permit in another, so other software's permits
// open no hole. The weights, highest first:
//   15  loopback, both ways
//   14  the helper's own traffic (its service SID, ALE user ID) to a tunnel's endpoints: UDP for
//       WireGuard, TCP for a relay or proxy (a tunnel whose mark is 0 gets none, as on Linux)
//   13  DNS (remote port 53) through a tunnel's interface, to that tunnel's servers (any, if it has none)
//   12  any other DNS: blocked
//   11  everything through a tunnel's interface, both ways
//   10  DHCPv4 and DHCPv6, neighbour discovery, and (opt-in) the LAN
//    0  everything else: blocked
// WFP's ALE layers see connections (a UDP "flow" too), so a permitted outgoing flow lets its replies
// in: the endpoints need no inbound filter. Neighbour discovery cannot be narrowed by hop limit as on
// Linux (WFP has no such condition at these layers): it is narrowed to its ICMPv6 types and to
// link-local and link-scope multicast addresses.
//
// The endpoint exception stands in for Linux's fwmark, which Windows has not: it is conditioned on the
// connecting process's token holding the helper service's own SID, NT SERVICE\PhantomMeshHelper
// (FWPM_CONDITION_ALE_USER_ID with a security descriptor granting that SID FWP_ACTRL_MATCH_FILTER;
// service-sid_windows.ts). Windows puts that SID only in the tokens of the service's process (and of
// the children it starts) once the installer has made the service's SID type unrestricted; no user,
// not even one running the same node.exe with a script of their own, gets it. The program (ALE app ID)
// is not a condition as well: WFP needs only the one condition to match, and the program would add
// nothing, since the app ID is an executable's path that anyone can run (that was the hole).

import { formatIp, maskedPrefix, parseIp, parsePrefix, type IpPrefix } from '../../../shared/src/ip.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import type { KillSwitchSettings } from './killswitch.ts';

export type KillSwitchPlanInput = Omit<KillSwitchSettings, 'enabled'>;

export type WfpLayer = 'connect-v4' | 'connect-v6' | 'recv-v4' | 'recv-v6';

export type WfpCondition =
  /** FWPM_CONDITION_IP_REMOTE_ADDRESS: one address, or a prefix (v4 address and mask, v6 prefix). */
  | { field: 'remote-address'; prefix: IpPrefix }
  | { field: 'remote-port'; port: number }
  | { field: 'local-port'; port: number }
  /** FWPM_CONDITION_IP_PROTOCOL */
  | { field: 'protocol'; protocol: 'tcp' | 'udp' | 'icmpv6' }
  /** FWPM_CONDITION_IP_LOCAL_INTERFACE: the adapter's LUID. */
  | { field: 'local-interface'; luid: bigint }
  /** FWPM_CONDITION_ALE_USER_ID: the connecting process's token holds this SID (enabled). */
  | { field: 'user'; sid: string }
  /** FWPM_CONDITION_FLAGS has FWP_CONDITION_FLAG_IS_LOOPBACK. */
  | { field: 'loopback' }
  /** FWPM_CONDITION_ICMP_TYPE (the local port field at these layers). */
  | { field: 'icmp-type'; type: number };

export interface WfpFilter {
  /** Shown by `netsh wfp show filters`, and what checkKillSwitch compares. */
  name: string;
  layer: WfpLayer;
  action: 'permit' | 'block';
  weight: number;
  /** Conditions on different fields must all hold; on the same field, any one of them (WFP's rule). */
  conditions: WfpCondition[];
}

export interface WfpEnvironment {
  /** The LUID of each tunnel's adapter that exists now; a tunnel without one still gets its endpoints. */
  luids: ReadonlyMap<string, bigint>;
  /** The helper service's SID (NT SERVICE\PhantomMeshHelper): only its traffic may reach the endpoints. */
  serviceSid: string;
}

export const WEIGHT = {
  loopback: 15,
  endpoint: 14,
  tunnelDns: 13,
  blockDns: 12,
  tunnel: 11,
  local: 10,
  block: 0,
} as const;

const LINK_LOCAL_V4 = '169.254.0.0/16';
const LINK_LOCAL_V6 = 'fe80::/10';
const GROUPS_V4 = ['224.0.0.0/24', '239.255.255.250/32', '255.255.255.255/32'];
const GROUPS_V6 = ['ff01::/16', 'ff02::/16'];
const ND_TO = ['fe80::/10', 'ff02::/16'];
/** Router solicitation, neighbour solicitation and advertisement out; router advertisement,
 *  neighbour solicitation and advertisement and redirect in (the Linux table's lists). */
const ND_OUT = [133, 135, 136];
const ND_IN = [134, 135, 136, 137];
/** NT SERVICE\NAME: S-1-5-80 and five sub-authorities. */
const SERVICE_SID = /^S-1-5-80(-\d{1,10}){5}$/;
const ALL_LAYERS: WfpLayer[] = ['connect-v4', 'connect-v6', 'recv-v4', 'recv-v6'];

function invalid(message: string): PhantomError {
  return new PhantomError('KILL_SWITCH_INVALID', message);
}

function prefixOf(text: string, what: string): IpPrefix {
  const parsed = text.includes('/') ? parsePrefix(text) : null;
  if (parsed) return maskedPrefix(parsed);
  const bytes = parseIp(text);
  if (!bytes) throw invalid(`${what} "${text}" is not an IP address`);
  const family = bytes.length === 4 ? 4 : 6;
  return { address: formatIp(bytes), bits: family === 4 ? 32 : 128, family };
}

const remote = (prefix: IpPrefix): WfpCondition => ({ field: 'remote-address', prefix });
const connect = (family: 4 | 6): WfpLayer => (family === 4 ? 'connect-v4' : 'connect-v6');
const recv = (family: 4 | 6): WfpLayer => (family === 4 ? 'recv-v4' : 'recv-v6');

/** The filters for these settings: the whole kill switch, replacing whatever was there. */
export function killSwitchPlan(settings: KillSwitchPlanInput, env: WfpEnvironment): WfpFilter[] {
  if (!SERVICE_SID.test(env.serviceSid)) throw invalid(`"${env.serviceSid}" is not a service SID`);
  const filters: WfpFilter[] = [];
  const add = (filter: WfpFilter) => filters.push(filter);

  for (const layer of ALL_LAYERS)
    add({
      name: `loopback ${layer}`,
      layer,
      action: 'permit',
      weight: WEIGHT.loopback,
      conditions: [{ field: 'loopback' }],
    });

  for (const tunnel of settings.tunnels) {
    const mark = tunnel.fwmark;
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
      throw invalid(`${tunnel.ifname}: mark ${mark} is not a number from 0 to 4294967295`);
    for (const endpoint of tunnel.endpoints) {
      const prefix = prefixOf(endpoint.address, `${tunnel.ifname}: endpoint`);
      if (prefix.bits !== (prefix.family === 4 ? 32 : 128))
        throw invalid(`${tunnel.ifname}: endpoint "${endpoint.address}" is not one address`);
      if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535)
        throw invalid(`${tunnel.ifname}: endpoint port ${endpoint.port} is not a number from 1 to 65535`);
      // A socket without a mark cannot be told from any other process's: no exception (as on Linux).
      if (mark === 0) continue;
      const protocol = endpoint.protocol === 'tcp' ? 'tcp' : 'udp';
      add({
        name: `${tunnel.ifname}: ${protocol} to endpoint ${prefix.address} port ${endpoint.port}`,
        layer: connect(prefix.family),
        action: 'permit',
        weight: WEIGHT.endpoint,
        conditions: [
          { field: 'user', sid: env.serviceSid },
          { field: 'protocol', protocol },
          remote(prefix),
          { field: 'remote-port', port: endpoint.port },
        ],
      });
    }
    const luid = env.luids.get(tunnel.ifname);
    const servers = tunnel.dns.map((server) => prefixOf(server, `${tunnel.ifname}: DNS server`));
    if (luid === undefined) continue;
    for (const family of [4, 6] as const) {
      const ofFamily = servers.filter((server) => server.family === family);
      if (servers.length > 0 && ofFamily.length === 0) continue;
      add({
        name: `${tunnel.ifname}: DNS through the tunnel${ofFamily.length ? ` to ${ofFamily.map((s) => s.address).join(', ')}` : ''} (IPv${family})`,
        layer: connect(family),
        action: 'permit',
        weight: WEIGHT.tunnelDns,
        conditions: [
          { field: 'local-interface', luid },
          { field: 'remote-port', port: 53 },
          ...ofFamily.map(remote),
        ],
      });
    }
    for (const layer of ALL_LAYERS)
      add({
        name: `${tunnel.ifname}: the tunnel ${layer}`,
        layer,
        action: 'permit',
        weight: WEIGHT.tunnel,
        conditions: [{ field: 'local-interface', luid }],
      });
  }

  for (const family of [4, 6] as const)
    add({
      name: `DNS outside the tunnels (IPv${family})`,
      layer: connect(family),
      action: 'block',
      weight: WEIGHT.blockDns,
      conditions: [{ field: 'remote-port', port: 53 }],
    });

  const local = settings.local ?? { subnets: [], dhcpServers: [] };
  const subnets = local.subnets.map((subnet) => {
    const parsed = subnet.includes('/') ? parsePrefix(subnet) : null;
    if (!parsed) throw invalid(`local subnet "${subnet}" is not an IP prefix`);
    return maskedPrefix(parsed);
  });
  const dhcpServers = local.dhcpServers.map((server) => {
    const prefix = prefixOf(server, 'DHCP server');
    if (prefix.family !== 4 || prefix.bits !== 32)
      throw invalid(`DHCP server "${server}" is not an IPv4 address`);
    return prefix;
  });
  const unique = (prefixes: IpPrefix[]) => {
    const seen = new Set<string>();
    return prefixes.filter((p) => {
      const key = `${p.address}/${p.bits}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  };

  add({
    name: 'DHCPv4 requests',
    layer: 'connect-v4',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'udp' },
      { field: 'local-port', port: 68 },
      { field: 'remote-port', port: 67 },
      ...unique([prefixOf('255.255.255.255', 'broadcast'), ...dhcpServers]).map(remote),
    ],
  });
  add({
    name: 'DHCPv4 answers',
    layer: 'recv-v4',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'udp' },
      { field: 'local-port', port: 68 },
      { field: 'remote-port', port: 67 },
    ],
  });
  add({
    name: 'DHCPv6 requests',
    layer: 'connect-v6',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'udp' },
      { field: 'local-port', port: 546 },
      { field: 'remote-port', port: 547 },
      remote(prefixOf('ff02::1:2', 'DHCPv6 group')),
      remote(prefixOf(LINK_LOCAL_V6, 'link-local')),
    ],
  });
  add({
    name: 'DHCPv6 answers',
    layer: 'recv-v6',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'udp' },
      { field: 'local-port', port: 546 },
      { field: 'remote-port', port: 547 },
      remote(prefixOf(LINK_LOCAL_V6, 'link-local')),
    ],
  });
  add({
    name: 'neighbour discovery out',
    layer: 'connect-v6',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'icmpv6' },
      ...ND_OUT.map((type): WfpCondition => ({ field: 'icmp-type', type })),
      ...ND_TO.map((to) => remote(prefixOf(to, 'neighbour discovery'))),
    ],
  });
  add({
    name: 'neighbour discovery in',
    layer: 'recv-v6',
    action: 'permit',
    weight: WEIGHT.local,
    conditions: [
      { field: 'protocol', protocol: 'icmpv6' },
      ...ND_IN.map((type): WfpCondition => ({ field: 'icmp-type', type })),
      remote(prefixOf(LINK_LOCAL_V6, 'link-local')),
    ],
  });

  if (settings.allowLan) {
    const ofFamily = (family: 4 | 6) => subnets.filter((subnet) => subnet.family === family);
    const fromLan = {
      4: unique([...ofFamily(4), prefixOf(LINK_LOCAL_V4, 'link-local')]),
      6: unique([...ofFamily(6), prefixOf(LINK_LOCAL_V6, 'link-local')]),
    };
    const toLan = {
      4: unique([...fromLan[4], ...GROUPS_V4.map((g) => prefixOf(g, 'group'))]),
      6: unique([...fromLan[6], ...GROUPS_V6.map((g) => prefixOf(g, 'group'))]),
    };
    for (const family of [4, 6] as const) {
      add({
        name: `the LAN out (IPv${family})`,
        layer: connect(family),
        action: 'permit',
        weight: WEIGHT.local,
        conditions: toLan[family].map(remote),
      });
      add({
        name: `the LAN in (IPv${family})`,
        layer: recv(family),
        action: 'permit',
        weight: WEIGHT.local,
        conditions: fromLan[family].map(remote),
      });
    }
  }

  for (const layer of ALL_LAYERS)
    add({ name: `everything else ${layer}`, layer, action: 'block', weight: WEIGHT.block, conditions: [] });
  return filters;
}

/** The plan as text, one filter a line: what `checkKillSwitch` compares and the logs show. */
export function describePlan(filters: readonly WfpFilter[]): string {
  const condition = (c: WfpCondition): string => {
    switch (c.field) {
      case 'remote-address':
        return `remote ${c.prefix.address}/${c.prefix.bits}`;
      case 'remote-port':
        return `remote port ${c.port}`;
      case 'local-port':
        return `local port ${c.port}`;
      case 'protocol':
        return c.protocol;
      case 'local-interface':
        return `interface ${c.luid}`;
      case 'user':
        return `user ${c.sid}`;
      case 'loopback':
        return 'loopback';
      case 'icmp-type':
        return `icmp type ${c.type}`;
    }
  };
  return filters
    .map(
      (f) =>
        `${f.layer} ${f.action} w${f.weight} ${f.name}: ${f.conditions.map(condition).join(', ') || 'any'}`,
    )
    .join('\n');
}
