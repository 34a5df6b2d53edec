// The kill switch on macOS: the pf anchor `com.phantommesh`, loaded with `pfctl -a com.phantommesh
// -f -` as one transaction, referenced from the main ruleset (`anchor "com.phantommesh" all`, put
// first, as Mullvad puts its anchor, so no earlier rule of the main ruleset decides before it), and
// pf enabled with a reference (`pfctl -E`, released with `pfctl -X TOKEN`), so pf stays as on as
// other users of it (the Application Firewall, Internet Sharing, another VPN) want it.
//
// The policy is Linux's (killswitch_linux.ts); every rule is `quick`, so the first match decides:
// - loopback; each tunnel's interface, both ways;
// - an endpoint (UDP, or a relay's or proxy's TCP) only from root's sockets (pf's `user root`: the
//   helper's own; pf cannot see a socket's IP_BOUND_IF, which is macOS's stand-in for the mark), and
//   none for a tunnel whose socket is unmarked (fwmark 0), as on Linux;
// - DNS (port 53) only through a tunnel, to that tunnel's servers, checked before the tunnels' pass;
// - DHCPv4 to 255.255.255.255 or the default gateway, DHCPv6 link-local, neighbour discovery
//   to and from link-local and link-scope multicast (pf has no hop-limit match: the one difference);
// - the LAN, opt-in: the subnets on the machine's links, link-local, local multicast;
// - everything else is dropped.
// The journal keeps the settings, never the rules: recovery builds them again.

import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import { formatPrefix, maskedPrefix, parsePrefix, type IpPrefix } from '../../../shared/src/ip.ts';
import {
  NETSTAT,
  parseGateway,
  parseNetstatRoutes,
  PFCTL,
  realInterfaceName,
  runChecked,
  runTool,
  toolFailure,
  utunNames,
  IFCONFIG,
} from '../routes_darwin.ts';
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
export {
  killSwitchRulesetInput,
  rulesetInputOf,
  type KillSwitchRulesetInput,
} from './killswitch-settings.ts';
import type { DarwinJournal } from './network-changes_darwin.ts';
import type { NetworkJournal } from './network-journal.ts';

const darwin = (journal: NetworkJournal) => journal as unknown as DarwinJournal;

export const KILL_SWITCH_ANCHOR = 'com.phantommesh';
export const ANCHOR_RULE = `anchor "${KILL_SWITCH_ANCHOR}" all`;

/** A pf list, or the single value. */
const anyOf = (items: readonly string[]): string =>
  items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
const unique = (items: string[]): string[] => [...new Set(items)];

/** pf's name for an interface: the tunnel's utun; a name pf could misread is refused. */
function pfInterface(ifname: string, resolve: (name: string) => string): string {
  if (!isInterfaceName(ifname)) throw invalid(`"${ifname}" is not an interface name`);
  const real = resolve(ifname);
  if (!/^[A-Za-z][A-Za-z0-9_.]*$/.test(real)) throw invalid(`"${real}" is not an interface name pf takes`);
  return real;
}

function tunnelRules(tunnel: KillSwitchTunnel, iface: string): { endpoints: string[]; dns: string[] } {
  const checked = checkedEndpoints(tunnel);
  const { mark } = checked;
  const endpoints = checked.endpoints.map(
    ({ address, family, port, protocol }) =>
      `pass out quick ${family === 4 ? 'inet' : 'inet6'} proto ${protocol} from any to ${address} ` +
      `port ${port} user root keep state`,
  );
  const servers = checkedDnsServers(tunnel);
  const dns =
    servers.length === 0
      ? [`pass out quick on ${iface} proto { tcp, udp } from any to any port 53 keep state`]
      : ([4, 6] as const).flatMap((family) => {
          const ofFamily = unique(servers.filter((s) => s.family === family).map((s) => s.address));
          if (ofFamily.length === 0) return [];
          return [
            `pass out quick on ${iface} ${family === 4 ? 'inet' : 'inet6'} proto { tcp, udp } ` +
              `from any to ${anyOf(ofFamily)} port 53 keep state`,
          ];
        });
  return { endpoints: mark === 0 ? [] : endpoints, dns };
}

/** The anchor's rules, replacing it in one `pfctl -a com.phantommesh -f -`. `resolve` maps a
 *  tunnel's name to its utun (routes_darwin.ts's realInterfaceName; the identity in tests). */
export function pfRuleset(
  settings: KillSwitchRulesetInput,
  resolve: (name: string) => string = realInterfaceName,
): string {
  const interfaces = settings.tunnels.map((tunnel) => pfInterface(tunnel.ifname, resolve));
  const perTunnel = settings.tunnels.map((tunnel, i) => tunnelRules(tunnel, interfaces[i]!));
  const names = unique(interfaces);
  const { subnets, dhcpServers } = checkedLocal(settings);
  const subnetsOf = (family: 4 | 6) => subnets.filter((s) => s.family === family).map(formatPrefix);
  const fromLanV4 = unique([...subnetsOf(4), LINK_LOCAL_V4]);
  const fromLanV6 = unique([...subnetsOf(6), LINK_LOCAL_V6]);
  const lan = settings.allowLan
    ? [
        `pass out quick inet from any to ${anyOf([...fromLanV4, ...GROUPS_V4])} keep state`,
        `pass out quick inet6 from any to ${anyOf([...fromLanV6, ...GROUPS_V6])} keep state`,
        `pass in quick inet from ${anyOf(fromLanV4)} to any keep state`,
        `pass in quick inet6 from ${anyOf(fromLanV6)} to any keep state`,
      ]
    : [];
  return [
    `# ${KILL_SWITCH_ANCHOR}: the PhantomMesh kill switch, written by the helper (replaced as a whole)`,
    'pass quick on lo0 all',
    // Before the DNS rules: an endpoint may well listen on port 53.
    ...perTunnel.flatMap((rules) => rules.endpoints),
    ...perTunnel.flatMap((rules) => rules.dns),
    'block drop out quick proto { tcp, udp } from any to any port 53',
    ...(names.length > 0 ? [`pass quick on ${anyOf(names)} all keep state`] : []),
    `pass out quick inet proto udp from any port 68 to ${anyOf(unique([DHCP_BROADCAST, ...dhcpServers]))} port 67 keep state`,
    'pass in quick inet proto udp from any port 67 to any port 68 keep state',
    'pass out quick inet6 proto udp from fe80::/10 port 546 to { ff02::1:2, fe80::/10 } port 547 keep state',
    'pass in quick inet6 proto udp from fe80::/10 port 547 to any port 546 keep state',
    `pass out quick inet6 proto icmp6 from any to ${anyOf(ND_TO)} icmp6-type { routersol, neighbrsol, neighbradv } keep state`,
    'pass in quick inet6 proto icmp6 from fe80::/10 to any icmp6-type { routeradv, neighbrsol, neighbradv, redir } keep state',
    ...lan,
    'block drop quick all',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// pf itself.

/** The token `pfctl -E` prints ("Token : 1234..."), or null. */
export function parsePfToken(output: string): string | null {
  return /Token\s*:\s*(\d+)/.exec(output)?.[1] ?? null;
}

/** Whether `pfctl -s info` says pf is enabled. */
export function pfEnabled(info: string): boolean {
  return /Status:\s*Enabled/.test(info);
}

/**
 * The main ruleset's filter rules (`pfctl -sr`) with our anchor put first, to load with `pfctl -R
 * -f -` (filter rules only: nat, rdr and scrub stay); null when the anchor is already referenced.
 */
export function mainRulesetWithAnchor(rules: string): string | null {
  const lines = rules
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(pass|block|anchor|match)\b/.test(line));
  if (lines.some((line) => line === ANCHOR_RULE || line.startsWith(`anchor "${KILL_SWITCH_ANCHOR}" `)))
    return null;
  return [ANCHOR_RULE, ...lines, ''].join('\n');
}

/** Tokens taken by this process when pf had to be enabled again (after a reboot, say) for a kill
 *  switch the journal kept: released with the journal's own. */
const extraTokens = new Set<string>();

/** `pfctl -E`: a reference that keeps pf enabled; its token. */
export async function enablePf(): Promise<string> {
  const result = await runTool(PFCTL, ['-E']);
  const token = parsePfToken(`${result.stderr}\n${result.stdout}`);
  if (result.exitCode !== 0 || token === null) throw toolFailure(PFCTL, ['-E'], result);
  return token;
}

async function releasePf(token: string): Promise<void> {
  // An unknown token (a reboot forgot it) is no error: that reference is gone already.
  await runTool(PFCTL, ['-X', token]);
}

async function ensureAnchorReferenced(): Promise<void> {
  const main = await runChecked(PFCTL, ['-sr']);
  const updated = mainRulesetWithAnchor(main);
  if (updated !== null) await runChecked(PFCTL, ['-R', '-f', '-'], updated);
}

/** Loads the kill switch: pf enabled, the anchor referenced, its rules replaced in one transaction. */
export async function loadKillSwitch(settings: KillSwitchRulesetInput): Promise<void> {
  const rules = pfRuleset(settings);
  if (!pfEnabled(await runChecked(PFCTL, ['-s', 'info']))) extraTokens.add(await enablePf());
  await ensureAnchorReferenced();
  await runChecked(PFCTL, ['-a', KILL_SWITCH_ANCHOR, '-f', '-'], rules);
}

/** Empties the anchor and lets go of pf (the reference `token`, and any this process took). */
export async function unloadKillSwitch(token: string | undefined): Promise<void> {
  await runChecked(PFCTL, ['-a', KILL_SWITCH_ANCHOR, '-F', 'rules']);
  for (const extra of [...(token ? [token] : []), ...extraTokens]) await releasePf(extra);
  extraTokens.clear();
}

/** Turns the kill switch on with these exceptions (replacing the previous ones at once), or off. */
export function setKillSwitch(journal: NetworkJournal, settings: KillSwitchSettings): Promise<void> {
  if (!settings.enabled) return darwin(journal).undo((change) => change.kind === 'kill-switch');
  pfRuleset(settings); // refuses what it cannot express, before anything is recorded
  return darwin(journal).apply({
    kind: 'kill-switch',
    anchor: KILL_SWITCH_ANCHOR,
    settings: rulesetInputOf(settings),
  });
}

/** The blocking rules with no tunnel up. */
export function killSwitchRuleset(settings: KillSwitchRulesetInput): string {
  return pfRuleset(settings);
}

/** Whether the anchor is still as applied: pf enabled, the anchor referenced and its rules unchanged. */
export async function checkKillSwitch(
  journal: NetworkJournal,
  expected?: string,
): Promise<{ status: 'intact' | 'missing' | 'changed'; listing: string | null }> {
  if (!darwin(journal).changes.some((change) => change.kind === 'kill-switch'))
    return { status: 'intact', listing: null };
  const [info, main, anchor] = await Promise.all([
    runChecked(PFCTL, ['-s', 'info']),
    runChecked(PFCTL, ['-sr']),
    runChecked(PFCTL, ['-a', KILL_SWITCH_ANCHOR, '-sr']),
  ]);
  if (!pfEnabled(info) || mainRulesetWithAnchor(main) !== null || anchor.trim() === '')
    return { status: 'missing', listing: null };
  return { status: expected === undefined || anchor === expected ? 'intact' : 'changed', listing: anchor };
}

// ---------------------------------------------------------------------------------------------
// The local networks, from `ifconfig -a` and `netstat -rn -f inet`.

interface IfconfigLink {
  name: string;
  flags: string[];
  addresses: IpPrefix[];
}

/** `ifconfig -a` as links: their flags and their addresses with prefix lengths. */
export function parseIfconfig(text: string): IfconfigLink[] {
  const links: IfconfigLink[] = [];
  for (const line of text.split('\n')) {
    const head = /^([A-Za-z0-9_.]+): flags=[0-9a-f]+<([^>]*)>/.exec(line);
    if (head) {
      links.push({ name: head[1]!, flags: head[2]!.split(',').filter(Boolean), addresses: [] });
      continue;
    }
    const link = links.at(-1);
    if (!link) continue;
    const v4 = /^\s+inet (\S+) netmask 0x([0-9a-f]{8})/.exec(line);
    if (v4) {
      const mask = parseInt(v4[2]!, 16);
      const bits = mask === 0 ? 0 : 32 - Math.log2((~mask >>> 0) + 1);
      const parsed = parsePrefix(`${v4[1]}/${bits}`);
      if (parsed) link.addresses.push(parsed);
      continue;
    }
    const v6 = /^\s+inet6 (\S+) prefixlen (\d+)/.exec(line);
    if (v6) {
      const parsed = parsePrefix(`${v6[1]!.split('%')[0]}/${v6[2]}`);
      if (parsed) link.addresses.push(parsed);
    }
  }
  return links;
}

/** The local networks: the subnets on links that are up, not loopback, not point-to-point (utuns,
 *  other VPNs) and not our tunnels; link-local addresses left out (allowed as a whole). A DHCP server
 *  is an IPv4 default gateway inside one of those subnets, on its link. */
export function localNetworksFromDarwin(
  ifconfig: string,
  netstat: string,
  exclude: readonly string[],
): LocalNetworks {
  const links = parseIfconfig(ifconfig).filter(
    (link) =>
      !exclude.includes(link.name) &&
      link.flags.includes('UP') &&
      !link.flags.includes('LOOPBACK') &&
      !link.flags.includes('POINTOPOINT') &&
      !/^(utun|ipsec|ppp|gif|stf|awdl|llw|bridge|anpi|ap)\d*$/.test(link.name),
  );
  const subnetsOf = new Map<string, IpPrefix[]>();
  for (const link of links) {
    const subnets = link.addresses
      .filter((a) => a.bits > 0 && !(a.family === 6 && a.address.toLowerCase().startsWith('fe80')))
      .filter((a) => !(a.family === 4 && a.address.startsWith('169.254.')))
      .map(maskedPrefix);
    subnetsOf.set(link.name, subnets);
  }
  const gateways = parseNetstatRoutes(netstat)
    .filter((route) => route.destination === 'default')
    .map((route) => ({ gateway: parseGateway(route.gateway), link: route.netif }))
    .filter((route): route is { gateway: string; link: string } => route.gateway?.includes('.') === true);
  return localNetworksOf(subnetsOf, gateways);
}

export async function readLocalNetworks(tunnels: readonly string[]): Promise<LocalNetworks> {
  const [ifconfig, netstat] = await Promise.all([
    runChecked(IFCONFIG, ['-a']),
    runChecked(NETSTAT, ['-rn', '-f', 'inet']),
  ]);
  return localNetworksFromDarwin(ifconfig, netstat, [...tunnels.map(realInterfaceName), ...utunNames()]);
}

/** What the seam (killswitch.ts) takes from this file. */
export const killSwitchDarwin = { readLocalNetworks, setKillSwitch, checkKillSwitch, killSwitchRuleset };
