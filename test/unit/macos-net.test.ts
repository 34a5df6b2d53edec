// The pure parts of the macOS network backend, on Linux: the routing table as netstat prints it, the
// pf kill switch's rules from a policy, the main ruleset's anchor, pfctl's token, ifconfig's links,
// route and ifconfig arguments, a full tunnel's routes and endpoint host routes, scutil's output, the
// DNS originals and the scripts that set and restore them, the network watch's filter, and the
// journal's darwin records. Nothing here runs a macOS tool.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrefix } from '../../shared/src/ip.ts';
import {
  parseNetstatRoutes,
  pickDefaultRoute,
  parseGateway,
  realInterfaceName,
  registerUtun,
  forgetUtun,
} from '../../helper/src/routes_darwin.ts';
import {
  localNetworksFromDarwin,
  mainRulesetWithAnchor,
  parseIfconfig,
  parsePfToken,
  pfEnabled,
  pfRuleset,
  type KillSwitchRulesetInput,
} from '../../helper/src/net/killswitch_darwin.ts';
import { addressArgs, routeArgs } from '../../helper/src/net/net_darwin.ts';
import { endpointRoutes, halfRoutes, uapiEndpoints } from '../../helper/src/net/full-tunnel_darwin.ts';
import {
  applyScript,
  dnsValuesOf,
  isOurs,
  mergeOriginals,
  parseScutilList,
  parseScutilShows,
  restoreScript,
} from '../../helper/src/net/dns_darwin.ts';
import { darwinNetworkChanges } from '../../helper/src/net/network-changes_darwin.ts';
import { concernsOthers } from '../../helper/src/service/network-watch_darwin.ts';

const NETSTAT_V4 = `Routing tables

Internet:
Destination        Gateway            Flags               Netif Expire
default            192.168.1.1        UGScg                 en0       
default            link#18            UCSIg               utun4       
0/1                link#18            UCSg                utun4       
127                127.0.0.1          UCS                   lo0       
192.168.1          link#6             UCS                   en0      !
192.168.1.1/32     link#6             UCS                   en0      !
`;

const NETSTAT_OLD = `Routing tables

Internet:
Destination        Gateway            Flags        Refs      Use   Netif Expire
default            10.0.0.1           UGSc           12        0     en1
10.0.0/24          link#5             UCS             1        0     en1
`;

const NETSTAT_V6 = `Routing tables

Internet6:
Destination                             Gateway                                 Flags               Netif Expire
default                                 fe80::1%en0                             UGcg                  en0       
default                                 fe80::%utun0                            UGcIg               utun0       
::1                                     ::1                                     UHL                   lo0       
`;

test('netstat -rn: columns found by the header, in both layouts', () => {
  const routes = parseNetstatRoutes(NETSTAT_V4);
  assert.equal(routes.length, 6);
  assert.deepEqual(routes[0], {
    destination: 'default',
    gateway: '192.168.1.1',
    flags: 'UGScg',
    netif: 'en0',
  });
  assert.deepEqual(parseNetstatRoutes(NETSTAT_OLD)[0], {
    destination: 'default',
    gateway: '10.0.0.1',
    flags: 'UGSc',
    netif: 'en1',
  });
});

test('the default route: not through a utun or our tunnels, unscoped first, with its gateway', () => {
  assert.deepEqual(pickDefaultRoute(parseNetstatRoutes(NETSTAT_V4), []), {
    gateway: '192.168.1.1',
    interface: 'en0',
  });
  assert.deepEqual(pickDefaultRoute(parseNetstatRoutes(NETSTAT_V6), []), {
    gateway: 'fe80::1%en0',
    interface: 'en0',
  });
  assert.equal(pickDefaultRoute(parseNetstatRoutes(NETSTAT_V4), ['en0']), null);
  const scoped = parseNetstatRoutes(
    'Destination Gateway Flags Netif\ndefault 10.1.1.1 UGScIg en1\ndefault 10.2.2.2 UGScg en0\n',
  );
  assert.equal(pickDefaultRoute(scoped, [])?.interface, 'en0');
  assert.deepEqual(
    pickDefaultRoute(parseNetstatRoutes('Destination Gateway Flags Netif\ndefault link#9 UCS ppp0x\n'), []),
    {
      interface: 'ppp0x',
    },
  );
  assert.equal(parseGateway('link#6'), undefined);
  assert.equal(parseGateway('a4:83:e7:1:2:3'), undefined);
});

test('a tunnel name maps to its utun while it is open', () => {
  registerUtun('office', 'utun7');
  assert.equal(realInterfaceName('office'), 'utun7');
  forgetUtun('office');
  assert.equal(realInterfaceName('office'), 'office');
});

test('ifconfig and route arguments: a point-to-point IPv4 address, IPv6 with its prefix, routes by interface or gateway', () => {
  assert.deepEqual(addressArgs('utun4', parsePrefix('10.0.0.2/24')!), [
    'utun4',
    'inet',
    '10.0.0.2/24',
    '10.0.0.2',
    'alias',
  ]);
  assert.deepEqual(addressArgs('utun4', parsePrefix('fd00::2/64')!), [
    'utun4',
    'inet6',
    'fd00::2/64',
    'alias',
  ]);
  assert.deepEqual(routeArgs('add', parsePrefix('10.0.0.7/24')!, { interface: 'utun4' }), [
    '-q',
    '-n',
    'add',
    '-inet',
    '10.0.0.0/24',
    '-interface',
    'utun4',
  ]);
  assert.deepEqual(routeArgs('delete', parsePrefix('2001:db8::1/128')!, { gateway: 'fe80::1%en0' }), [
    '-q',
    '-n',
    'delete',
    '-inet6',
    '2001:db8::1/128',
    'fe80::1%en0',
  ]);
});

test("a full tunnel: two halves per family, and a host route per endpoint through that family's gateway", () => {
  assert.deepEqual(halfRoutes(4), ['0.0.0.0/1', '128.0.0.0/1']);
  assert.deepEqual(halfRoutes(6), ['::/1', '8000::/1']);
  const uapi =
    'private_key=ab\nlisten_port=51820\npublic_key=cd\nendpoint=198.51.100.2:51820\npublic_key=ef\nendpoint=[2001:db8::2]:443\npublic_key=01\nendpoint=198.51.100.2:51821\n\n';
  assert.deepEqual(uapiEndpoints(uapi), ['198.51.100.2', '2001:db8::2']);
  assert.deepEqual(
    endpointRoutes(['198.51.100.2', '2001:db8::2'], {
      4: { gateway: '192.168.1.1', interface: 'en0' },
      6: null,
    }),
    [{ family: 4, destination: '198.51.100.2/32', gateway: '192.168.1.1', interface: 'en0' }],
  );
  assert.deepEqual(endpointRoutes(['203.0.113.9'], { 4: { interface: 'ppp0' }, 6: null }), [
    { family: 4, destination: '203.0.113.9/32', interface: 'ppp0' },
  ]);
});

// ---- the pf kill switch

const tunnel = {
  ifname: 'office',
  endpoints: [
    { address: '198.51.100.2', port: 51820, family: 4 as const },
    { address: '2001:db8::2', port: 51820, family: 6 as const },
    { address: '203.0.113.5', port: 443, family: 4 as const, protocol: 'tcp' as const },
  ],
  dns: ['10.64.0.1'],
  fwmark: 51820,
};
const local = { subnets: ['192.168.1.77/24', 'fd00:5::1/64'], dhcpServers: ['192.168.1.1'] };
const base: KillSwitchRulesetInput = { allowLan: false, local, tunnels: [tunnel] };
const resolve = (name: string) => (name === 'office' ? 'utun4' : name);

test("pf: the endpoints only from root's sockets, UDP and the relay's TCP, before the DNS block", () => {
  const rules = pfRuleset(base, resolve).split('\n');
  const at = (text: string) => rules.findIndex((rule) => rule.includes(text));
  assert.ok(
    rules.includes('pass out quick inet proto udp from any to 198.51.100.2 port 51820 user root keep state'),
  );
  assert.ok(
    rules.includes('pass out quick inet6 proto udp from any to 2001:db8::2 port 51820 user root keep state'),
  );
  assert.ok(
    rules.includes('pass out quick inet proto tcp from any to 203.0.113.5 port 443 user root keep state'),
  );
  assert.ok(at('198.51.100.2') < at('block drop out quick proto { tcp, udp } from any to any port 53'));
  assert.equal(rules.at(-2), 'block drop quick all');
  assert.equal(rules[1], 'pass quick on lo0 all');
});

test('pf: DNS only through the tunnel to its servers; the tunnel by its utun; no mark, no endpoint', () => {
  const text = pfRuleset(base, resolve);
  const rules = text.split('\n');
  const dns = rules.indexOf(
    'pass out quick on utun4 inet proto { tcp, udp } from any to 10.64.0.1 port 53 keep state',
  );
  const block = rules.indexOf('block drop out quick proto { tcp, udp } from any to any port 53');
  const tunnelPass = rules.indexOf('pass quick on utun4 all keep state');
  assert.ok(dns > 0 && dns < block && block < tunnelPass, text);
  const anyDns = pfRuleset({ ...base, tunnels: [{ ...tunnel, dns: [] }] }, resolve);
  assert.match(anyDns, /pass out quick on utun4 proto \{ tcp, udp \} from any to any port 53 keep state/);
  const unmarked = pfRuleset({ ...base, tunnels: [{ ...tunnel, fwmark: 0 }] }, resolve);
  assert.doesNotMatch(unmarked, /user root/);
});

test('pf: DHCP to the broadcast and the gateway, DHCPv6 and neighbour discovery link-local only, no LAN unless asked', () => {
  const text = pfRuleset(base, resolve);
  assert.match(
    text,
    /pass out quick inet proto udp from any port 68 to \{ 255\.255\.255\.255, 192\.168\.1\.1 \} port 67 keep state/,
  );
  assert.match(
    text,
    /pass out quick inet6 proto udp from fe80::\/10 port 546 to \{ ff02::1:2, fe80::\/10 \} port 547/,
  );
  assert.match(text, /icmp6-type \{ routersol, neighbrsol, neighbradv \}/);
  assert.doesNotMatch(text, /192\.168\.1\.0\/24/);
  const lan = pfRuleset({ ...base, allowLan: true }, resolve);
  assert.match(
    lan,
    /pass out quick inet from any to \{ 192\.168\.1\.0\/24, 169\.254\.0\.0\/16, 224\.0\.0\.0\/24, 239\.255\.255\.250, 255\.255\.255\.255 \} keep state/,
  );
  assert.match(lan, /pass in quick inet6 from \{ fd00:5::\/64, fe80::\/10 \} to any keep state/);
});

test("pf: nothing pf could misread gets in; no tunnels blocks all but the machine's own needs", () => {
  assert.throws(
    () => pfRuleset({ ...base, tunnels: [{ ...tunnel, ifname: 'a b' }] }, resolve),
    /interface name/,
  );
  assert.throws(
    () => pfRuleset({ ...base, tunnels: [{ ...tunnel, dns: ['x; pass all'] }] }, resolve),
    /not an IP/,
  );
  assert.throws(
    () => pfRuleset({ ...base, local: { subnets: ['10.0.0.0'], dhcpServers: [] } }, resolve),
    /prefix/,
  );
  assert.throws(() => pfRuleset(base, () => 'utun4 all'), /pf takes/);
  const none = pfRuleset({ allowLan: false, tunnels: [] });
  assert.doesNotMatch(none, /pass quick on \{|user root/);
  assert.match(none, /block drop quick all/);
});

test('pf: the anchor goes first into the main ruleset, once; the token and the status are read', () => {
  const main =
    'scrub-anchor "com.apple/*" all fragment reassemble\nanchor "com.apple/*" all\npass out all flags S/SA keep state\n';
  assert.equal(
    mainRulesetWithAnchor(main),
    'anchor "com.phantommesh" all\nanchor "com.apple/*" all\npass out all flags S/SA keep state\n',
  );
  assert.equal(mainRulesetWithAnchor('anchor "com.phantommesh" all\nanchor "com.apple/*" all\n'), null);
  assert.equal(
    parsePfToken(
      'No ALTQ support in kernel\nALTQ related functions disabled\npf enabled\nToken : 14133929341584786913\n',
    ),
    '14133929341584786913',
  );
  assert.equal(parsePfToken('pfctl: /dev/pf: Permission denied'), null);
  assert.ok(pfEnabled('Status: Enabled for 0 days 00:12:01           Debug: Urgent\n'));
  assert.ok(!pfEnabled('Status: Disabled                              Debug: Urgent\n'));
});

const IFCONFIG = `lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
	inet 127.0.0.1 netmask 0xff000000
	inet6 ::1 prefixlen 128
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
	ether a4:83:e7:01:02:03
	inet6 fe80::1c2b:3d4e:5f60:7182%en0 prefixlen 64 secured scopeid 0x6
	inet 192.168.1.77 netmask 0xffffff00 broadcast 192.168.1.255
	inet6 fd00:5::1 prefixlen 64 autoconf secured
	inet 169.254.3.4 netmask 0xffff0000
en1: flags=8822<BROADCAST,SMART,SIMPLEX,MULTICAST> mtu 1500
	inet 10.9.9.9 netmask 0xffffff00
utun4: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1420
	inet 10.64.0.2 --> 10.64.0.2 netmask 0xffffff00
awdl0: flags=8943<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST> mtu 1500
	inet6 fe80::1%awdl0 prefixlen 64 scopeid 0xb
`;

test('local networks from ifconfig -a: up links that are not loopback, point-to-point or ours; the gateway as DHCP server', () => {
  const links = parseIfconfig(IFCONFIG);
  assert.deepEqual(
    links.map((link) => link.name),
    ['lo0', 'en0', 'en1', 'utun4', 'awdl0'],
  );
  assert.deepEqual(localNetworksFromDarwin(IFCONFIG, NETSTAT_V4, ['utun4']), {
    subnets: ['192.168.1.0/24', 'fd00:5::/64'],
    dhcpServers: ['192.168.1.1'],
  });
  assert.deepEqual(localNetworksFromDarwin(IFCONFIG, NETSTAT_V4, ['en0']), { subnets: [], dhcpServers: [] });
});

// ---- DNS through scutil

const SHOWS = `<dictionary> {
  DomainName : home.arpa
  SearchDomains : <array> {
    0 : home.arpa
  }
  ServerAddresses : <array> {
    0 : 192.168.1.1
    1 : fe80::1%en0
  }
  __CONFIGURATION_ID__ : Default: 0
}
  No such key
<dictionary> {
  ServerAddresses : <array> {
    0 : 10.64.0.1
  }
}
`;

test('scutil: show answers in order (a missing key as null), list keys, the DNS values', () => {
  const answers = parseScutilShows(SHOWS);
  assert.equal(answers.length, 3);
  assert.equal(answers[1], null);
  assert.deepEqual(dnsValuesOf(answers[0]!), {
    serverAddresses: ['192.168.1.1', 'fe80::1%en0'],
    searchDomains: ['home.arpa'],
  });
  assert.equal(answers[0]!.DomainName, 'home.arpa');
  assert.deepEqual(dnsValuesOf(answers[2]!), { serverAddresses: ['10.64.0.1'], searchDomains: null });
  const list = `  subKey [0] = State:/Network/Service/8C2F5A1E-0000-4000-8000-000000000001/DNS
  subKey [1] = Setup:/Network/Service/8C2F5A1E-0000-4000-8000-000000000001/DNS
  subKey [2] = State:/Network/Global/DNS
`;
  assert.deepEqual(parseScutilList(list), [
    'State:/Network/Service/8C2F5A1E-0000-4000-8000-000000000001/DNS',
    'Setup:/Network/Service/8C2F5A1E-0000-4000-8000-000000000001/DNS',
  ]);
});

const KEY = 'State:/Network/Service/A/DNS';
const SETUP = 'Setup:/Network/Service/A/DNS';
const ours = { servers: ['10.64.0.1'], search: ['corp.example'] };

test('DNS originals: what the system shows is the original; a key showing ours keeps its recorded one', () => {
  const dhcp = { serverAddresses: ['192.168.1.1'], searchDomains: ['home.arpa'] };
  const first = mergeOriginals([], [{ key: KEY, values: dhcp }], ours);
  assert.deepEqual(first, [{ key: KEY, ...dhcp }]);
  const applied = { serverAddresses: ['10.64.0.1'], searchDomains: ['corp.example'] };
  assert.ok(isOurs(applied, ours));
  assert.deepEqual(mergeOriginals(first, [{ key: KEY, values: applied }], ours), first);
  // A renewal rewrote it: the new servers are the original now; a gone key is forgotten.
  const renewed = { serverAddresses: ['192.168.1.254'], searchDomains: null };
  assert.deepEqual(mergeOriginals(first, [{ key: SETUP, values: renewed }], ours), [
    { key: SETUP, ...renewed },
  ]);
  // A value scutil could not give back as a word is left alone.
  assert.deepEqual(
    mergeOriginals([], [{ key: KEY, values: { serverAddresses: ['a b'], searchDomains: null } }], ours),
    [],
  );
});

test('DNS scripts: each key read, changed, written back; restored only where ours still is', () => {
  assert.equal(
    applyScript([KEY], ours),
    `get ${KEY}\nd.add ServerAddresses * 10.64.0.1\nd.add SearchDomains * corp.example\nset ${KEY}\n`,
  );
  assert.equal(
    applyScript([KEY], { servers: ['10.64.0.1'], search: [] }),
    `get ${KEY}\nd.add ServerAddresses * 10.64.0.1\nset ${KEY}\n`,
  );
  const originals = [
    { key: KEY, serverAddresses: ['192.168.1.1'], searchDomains: null },
    { key: SETUP, serverAddresses: ['9.9.9.9'], searchDomains: ['x.example'] },
  ];
  const current = new Map([
    [KEY, { serverAddresses: ['10.64.0.1'], searchDomains: ['corp.example'] }],
    [SETUP, { serverAddresses: ['192.168.7.1'], searchDomains: null }],
  ]);
  assert.equal(
    restoreScript(originals, current, ours),
    `get ${KEY}\nd.add ServerAddresses * 192.168.1.1\nd.remove SearchDomains\nset ${KEY}\n`,
  );
  assert.equal(
    restoreScript(originals, current, ours, { servers: ['10.99.0.1'], search: [] }),
    `get ${KEY}\nd.add ServerAddresses * 10.99.0.1\nd.remove SearchDomains\nset ${KEY}\n`,
  );
  assert.equal(restoreScript(originals, new Map(), ours), '');
});

test("the journal's darwin records: checked when read back, nothing outside what recovery may touch", () => {
  const { schema } = darwinNetworkChanges;
  assert.ok(
    schema.safeParse({ kind: 'route', ifname: 'office', family: 4, destination: '0.0.0.0/1' }).success,
  );
  assert.ok(
    !schema.safeParse({ kind: 'route', ifname: 'office', family: 4, destination: '10.0.0.0/8' }).success,
  );
  assert.ok(
    schema.safeParse({
      kind: 'endpoint-route',
      ifname: 'office',
      family: 4,
      destination: '198.51.100.2/32',
      gateway: '192.168.1.1',
      interface: 'en0',
    }).success,
  );
  assert.ok(
    !schema.safeParse({
      kind: 'endpoint-route',
      ifname: 'office',
      family: 4,
      destination: '0.0.0.0/0',
      interface: 'en0',
    }).success,
  );
  const dns = { kind: 'scutil-dns', ifname: 'office', servers: ['10.64.0.1'], search: [], originals: [] };
  assert.ok(schema.safeParse(dns).success);
  assert.ok(
    !schema.safeParse({
      ...dns,
      originals: [{ key: 'State:/Network/Global/IPv4', serverAddresses: null, searchDomains: null }],
    }).success,
  );
  const ks = {
    kind: 'kill-switch',
    anchor: 'com.phantommesh',
    settings: { allowLan: false, tunnels: [] },
    token: '123',
  };
  assert.ok(schema.safeParse(ks).success);
  assert.ok(!schema.safeParse({ ...ks, anchor: 'com.apple' }).success);
  assert.ok(darwinNetworkChanges.failsClosed(ks as never));
  assert.ok(darwinNetworkChanges.replaces(ks as never, { ...ks, token: '9' } as never));
});

test('the network watch ignores bursts about our utuns only', () => {
  assert.ok(!concernsOthers(['RTM_ADD: Add Route: len 132', 'interface utun4'], ['utun4']));
  assert.ok(concernsOthers(['RTM_IFINFO: iface status change: en0 link up'], ['utun4']));
  assert.ok(concernsOthers(['RTM_DELETE: Delete Route: default'], ['utun4']));
  assert.ok(!concernsOthers([''], []));
});
