// The kill switch's nft script (helper/src/net/killswitch_linux.ts) as text: each exception as narrow
// as the review asked, the local networks as read from `ip -j`, and the journal's record of it
// (settings, checked with zod; never nft text). test/interop/net-killswitch.test.ts sends the packets.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PhantomError } from '../../shared/src/errors.ts';
import {
  killSwitchRuleset,
  localNetworksFrom,
  type KillSwitchRulesetInput,
} from '../../helper/src/net/killswitch_linux.ts';
import { linuxNetworkChanges } from '../../helper/src/net/network-changes_linux.ts';

const tunnel = {
  ifname: 'wg0',
  endpoints: [
    { address: '198.51.100.2', port: 51820, family: 4 as const },
    { address: '2001:db8::2', port: 51820, family: 6 as const },
  ],
  dns: ['192.0.2.1'],
  fwmark: 51820,
};
const local = { subnets: ['192.168.1.77/24', 'fd00:5::1/64'], dhcpServers: ['192.168.1.1'] };
const base: KillSwitchRulesetInput = { allowLan: false, local, tunnels: [tunnel] };

/** The rules of one chain, one a line, without the indentation. */
function chain(ruleset: string, name: string): string[] {
  const match = new RegExp(`chain ${name} \\{\\n([\\s\\S]*?)\\n  \\}`).exec(ruleset);
  assert.ok(match, `no chain ${name}`);
  return match[1]!.split('\n').map((line) => line.trim());
}

const codeOf = (run: () => unknown): string => {
  try {
    run();
    return 'accepted';
  } catch (error) {
    return (error as PhantomError).code;
  }
};

test('DHCP goes only to broadcast and the known servers; DHCPv6 only between link-local addresses', () => {
  const output = chain(killSwitchRuleset(base), 'output');
  const dhcp = output.filter((rule) => /dport (67|547)/.test(rule));
  assert.deepEqual(dhcp, [
    'ip daddr { 255.255.255.255, 192.168.1.1 } udp sport 68 udp dport 67 accept',
    'ip6 saddr fe80::/10 ip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept',
  ]);
  const unknown = chain(killSwitchRuleset({ ...base, local: undefined }), 'output');
  assert.ok(unknown.includes('ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept'));
  assert.equal(
    codeOf(() => killSwitchRuleset({ ...base, local: { subnets: [], dhcpServers: ['2001:db8::1'] } })),
    'KILL_SWITCH_INVALID',
  );
});

test('neighbour discovery only to and from link-local and link-scope multicast, hop limit 255', () => {
  const ruleset = killSwitchRuleset(base);
  const nd = (name: string) => chain(ruleset, name).filter((rule) => rule.includes('nd-'));
  assert.deepEqual(nd('output'), [
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 ' +
      'ip6 daddr { fe80::/10, ff02::/16 } accept',
  ]);
  assert.deepEqual(nd('input'), [
    'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } ' +
      'ip6 hoplimit 255 ip6 saddr fe80::/10 accept',
  ]);
});

test('an endpoint is reached only with the tunnel mark; a tunnel without one gets no exception', () => {
  const endpoints = (input: KillSwitchRulesetInput) =>
    chain(killSwitchRuleset(input), 'output').filter((rule) => rule.includes('51820 accept'));
  assert.deepEqual(endpoints(base), [
    'meta mark 51820 ip daddr 198.51.100.2 udp dport 51820 accept',
    'meta mark 51820 ip6 daddr 2001:db8::2 udp dport 51820 accept',
  ]);
  assert.deepEqual(endpoints({ ...base, tunnels: [{ ...tunnel, fwmark: 0 }] }), []);
  for (const fwmark of [-1, 1.5, 2 ** 32])
    assert.equal(
      codeOf(() => killSwitchRuleset({ ...base, tunnels: [{ ...tunnel, fwmark }] })),
      'KILL_SWITCH_INVALID',
    );
});

test('the LAN is opt-in and is the local subnets, link-local and local multicast only', () => {
  const off = killSwitchRuleset(base);
  assert.doesNotMatch(off, /192\.168\.1\.0|fd00:5::|169\.254|224\.0\.0/);
  const on = killSwitchRuleset({ ...base, allowLan: true });
  const lan = (name: string) =>
    chain(on, name).filter((rule) => /^ip6? [sd]addr/.test(rule) && !rule.includes('dport'));
  const to = [
    'ip daddr { 192.168.1.0/24, 169.254.0.0/16, 224.0.0.0/24, 239.255.255.250, 255.255.255.255 } accept',
    'ip6 daddr { fd00:5::/64, fe80::/10, ff01::/16, ff02::/16 } accept',
  ];
  assert.deepEqual(lan('output'), to);
  assert.deepEqual(lan('forward'), to);
  assert.deepEqual(lan('input'), [
    'ip saddr { 192.168.1.0/24, 169.254.0.0/16 } accept',
    'ip6 saddr { fd00:5::/64, fe80::/10 } accept',
  ]);
  // Not all of RFC 1918 and fc00::/7 any more.
  assert.doesNotMatch(on, /10\.0\.0\.0\/8|172\.16\.0\.0\/12|192\.168\.0\.0\/16|fc00::\/7/);
  // DNS is still only through the tunnel, to its servers: the jump comes before the LAN.
  const output = chain(on, 'output');
  assert.ok(output.indexOf('meta l4proto { tcp, udp } th dport 53 jump dns') < output.indexOf(to[0]!));
  assert.deepEqual(chain(on, 'dns'), ['oifname "wg0" ip daddr 192.0.2.1 accept', 'drop']);
  assert.equal(
    codeOf(() =>
      killSwitchRuleset({ ...base, local: { subnets: ['192.168.1.0/24; accept'], dhcpServers: [] } }),
    ),
    'KILL_SWITCH_INVALID',
  );
});

test('IPv6 in clear has no exception but link-local DHCPv6, neighbour discovery and the endpoints', () => {
  // A tunnel routes what it routes (with or without ::/0): the kill switch names no prefix of it.
  const output = chain(killSwitchRuleset({ ...base, local: undefined }), 'output').filter(
    (rule) => rule.startsWith('ip6') || rule.includes('icmpv6') || rule.includes(' ip6 '),
  );
  assert.deepEqual(output, [
    'meta mark 51820 ip6 daddr 2001:db8::2 udp dport 51820 accept',
    'ip6 saddr fe80::/10 ip6 daddr { ff02::1:2, fe80::/10 } udp sport 546 udp dport 547 accept',
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 ' +
      'ip6 daddr { fe80::/10, ff02::/16 } accept',
  ]);
});

test('the ruleset is one transaction that replaces the table', () => {
  const ruleset = killSwitchRuleset(base);
  assert.match(
    ruleset,
    /^table inet phantommesh\ndelete table inet phantommesh\ntable inet phantommesh \{\n/,
  );
  assert.equal(ruleset.match(/^table inet/gm)?.length, 2);
});

// ---------------------------------------------------------------------------------------------
// The local networks, from `ip -j address show` and `ip -j -4 route show table all`.

const addresses = [
  {
    ifname: 'lo',
    flags: ['LOOPBACK', 'UP'],
    link_type: 'loopback',
    addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }],
  },
  {
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP'],
    link_type: 'ether',
    addr_info: [
      { family: 'inet', local: '198.51.100.7', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: '2001:db8:1::7', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ],
  },
  {
    ifname: 'wg0',
    flags: ['POINTOPOINT', 'UP'],
    link_type: 'none',
    addr_info: [{ family: 'inet', local: '10.8.0.2', prefixlen: 24, scope: 'global' }],
  },
  {
    ifname: 'pmtest',
    flags: ['BROADCAST', 'UP'],
    link_type: 'ether',
    addr_info: [{ family: 'inet', local: '192.0.2.2', prefixlen: 24, scope: 'global' }],
  },
  {
    ifname: 'tun0',
    flags: ['POINTOPOINT', 'UP'],
    link_type: 'none',
    addr_info: [{ family: 'inet', local: '10.9.0.2', prefixlen: 32, scope: 'global', address: '10.9.0.1' }],
  },
];
const routes = [
  { dst: 'default', gateway: '198.51.100.1', dev: 'eth0', protocol: 'dhcp' },
  // An injected route towards a prefix off the LAN, through the LAN's gateway: opens nothing.
  { dst: '203.0.113.0/24', gateway: '198.51.100.1', dev: 'eth0' },
  { dst: 'default', gateway: '203.0.113.1', dev: 'eth0', flags: ['onlink'] },
  { dst: 'default', dev: 'wg0', table: '51820' },
  { type: 'broadcast', dst: '198.51.100.255', dev: 'eth0', table: 'local' },
];

test('local networks: the subnets on real links, the on-link default gateways as DHCP servers', () => {
  assert.deepEqual(localNetworksFrom(addresses, routes, ['pmtest']), {
    subnets: ['198.51.100.0/24', '2001:db8:1::/64'],
    dhcpServers: ['198.51.100.1'],
  });
  // Without naming it, a tunnel that looks like an Ethernet link counts as local.
  assert.deepEqual(localNetworksFrom(addresses, routes, []).subnets, [
    '198.51.100.0/24',
    '2001:db8:1::/64',
    '192.0.2.0/24',
  ]);
  assert.throws(() => localNetworksFrom({ not: 'a list' }, routes, []));
});

// ---------------------------------------------------------------------------------------------
// The journal's record: settings, checked when read back.

test('the journal keeps the settings; a tampered record is refused, an old text record is a lockdown', () => {
  const { schema } = linuxNetworkChanges;
  const record = { kind: 'kill-switch', table: 'phantommesh', settings: base };
  assert.deepEqual(schema.parse(record), record);
  const tampered = [
    { ...record, table: 'filter' },
    { ...record, settings: { ...base, tunnels: [{ ...tunnel, ifname: 'wg0" accept #' }] } },
    { ...record, settings: { ...base, tunnels: [{ ...tunnel, dns: ['192.0.2.1 } accept'] }] } },
    { ...record, settings: { ...base, local: { subnets: ['0.0.0.0/0 accept'], dhcpServers: [] } } },
    { ...record, settings: { ...base, tunnels: [{ ...tunnel, fwmark: '1 accept' }] } },
  ];
  for (const change of tampered)
    assert.equal(schema.safeParse(change).success, false, JSON.stringify(change));
  // Extra text next to the settings is dropped, never loaded.
  assert.deepEqual(schema.parse({ ...record, ruleset: 'flush ruleset' }), record);
  const old = { kind: 'kill-switch', table: 'phantommesh', ruleset: 'table inet phantommesh { }' };
  assert.deepEqual(schema.parse(old), {
    kind: 'kill-switch',
    table: 'phantommesh',
    settings: { allowLan: false, tunnels: [] },
  });
});

test('recovery touches only what the helper changes: its files, sysctls and tables (a tampered journal is refused)', () => {
  const { schema } = linuxNetworkChanges;
  const snapshot = { type: 'file', base64: '', mode: 0o644, uid: 0, gid: 0 } as const;
  const good = [
    {
      kind: 'file',
      ifname: 'wg0',
      path: '/etc/resolv.conf',
      content: 'nameserver 192.0.2.53\n',
      original: snapshot,
    },
    { kind: 'sysctl', ifname: 'wg0', key: 'net.ipv4.conf.all.src_valid_mark', value: '1', original: '0' },
    { kind: 'nft-table', ifname: 'wg0', name: 'phantommesh-wg0', ruleset: '' },
  ];
  for (const change of good) assert.equal(schema.safeParse(change).success, true, JSON.stringify(change));
  const tampered = [
    { ...good[0], path: '/usr/bin/sudo' },
    { ...good[0], path: '/etc/../etc/shadow' },
    { ...good[0], original: { ...snapshot, mode: 0o6755 } },
    { ...good[0], original: { ...snapshot, mode: 0o755 } },
    { ...good[1], key: 'kernel.core_pattern' },
    { ...good[1], key: 'net.ipv4.ip_forward' },
    { ...good[1], original: '|/tmp/x' },
    { ...good[2], name: 'firewalld' },
  ];
  for (const change of tampered)
    assert.equal(schema.safeParse(change).success, false, JSON.stringify(change));
});
