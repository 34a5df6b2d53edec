// The kill switch (helper/src/net/killswitch_linux.ts) against the real kernel: a client and a
// server joined by an underlay veth (the server is also the client's LAN gateway), and a second veth
// standing in for the tunnel. UDP echo servers on the server log every datagram that reaches them,
// and nft counters in the server's own namespace count what arrives there, so "blocked" means it
// never left the client.

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PhantomError } from '../../shared/src/errors.ts';
import { NetworkJournal } from '../../helper/src/net/network-journal.ts';
import {
  killSwitchRuleset,
  readLocalNetworks,
  setKillSwitch,
  type KillSwitchSettings,
  type LocalNetworks,
} from '../../helper/src/net/killswitch_linux.ts';
import { createTopology, exec, execIn, requireRoot, uniqueName } from '../lib/netns.ts';
import { scenarioRequested, serveScenario } from '../lib/run-in-netns.ts';
import {
  addTunnelLink,
  runInNamespace,
  scenarioArgs,
  snapshotOf,
  startUdpEcho,
  udpProbe,
  warmUp,
} from './net-policy-lib.ts';

interface Args {
  journal: string;
  settings?: KillSwitchSettings;
  probes?: Probe[];
  dhcp?: string[];
  exclude?: string[];
}

/** [address, port, fwmark?] */
type Probe = [string, number, number?];

const MARK = 51820;

/** A DHCP client's datagram (from port 68 to port 67) to `address`; the answer, or 'nothing'. */
async function dhcpProbe(address: string): Promise<string> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  try {
    await new Promise<void>((resolve) => socket.bind(68, resolve));
    socket.setBroadcast(true);
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('nothing'), 1000);
      socket.on('message', (message) => {
        clearTimeout(timer);
        resolve(message.toString());
      });
      socket.send('dhcp-shaped', 67, address, (error) => {
        if (error) {
          clearTimeout(timer);
          resolve('nothing');
        }
      });
    });
  } finally {
    socket.close();
  }
}

const scenarios = {
  async set() {
    const { journal, settings } = scenarioArgs<Args>();
    const opened = await NetworkJournal.open(journal);
    const local = await readLocalNetworks(settings!.tunnels.map((tunnel) => tunnel.ifname));
    await setKillSwitch(opened, { local, ...settings! });
    return opened.changes.map((change) => change.kind);
  },

  async local() {
    return readLocalNetworks(scenarioArgs<Args>().exclude!);
  },

  async probes() {
    const { probes } = scenarioArgs<Args>();
    return Promise.all(probes!.map(([address, port, fwmark]) => udpProbe(address, port, fwmark)));
  },

  async dhcp() {
    const answers: string[] = [];
    for (const address of scenarioArgs<Args>().dhcp!) answers.push(await dhcpProbe(address));
    return answers;
  },

  async recover() {
    const { journal } = scenarioArgs<Args>();
    const opened = await NetworkJournal.open(journal);
    return { report: await opened.recover(), kinds: opened.changes.map((change) => change.kind) };
  },
};

// A neighbour solicitation with hop limit 255 from a raw socket, as any root process could send:
// argv = destination, interface (for a multicast destination), target.
const SEND_NS = `
import socket, struct, sys
dst, ifname, target = sys.argv[1:4]
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
msg = struct.pack('!BBHI', 135, 0, 0, 0) + socket.inet_pton(socket.AF_INET6, target)
try:
    s.sendto(msg, (dst, 0, 0, socket.if_nametoindex(ifname)))
    print('sent')
except OSError as e:
    print('refused', e.errno)
`;

/** What the server counts arriving (nft counters in its own namespace, before anything else). */
const CAPTURE = {
  dhcpPublic: 'ip daddr 203.0.113.9 udp dport 67',
  dhcpBroadcast: 'ip daddr 255.255.255.255 udp dport 67',
  dhcpGateway: 'ip daddr 198.51.100.2 udp dport 67',
  ndGlobal: 'icmpv6 type nd-neighbor-solicit ip6 daddr 2001:db8:99::9',
  ndMulticast: 'icmpv6 type nd-neighbor-solicit ip6 daddr ff02::1:ff99:9',
  injectedV4: 'ip daddr 203.0.113.9 udp dport 4000',
  injectedV6: 'ip6 daddr fd99::9',
  clearV6: 'ip6 daddr 2001:db8:99::9 udp dport 4000',
};
type Captured = Record<keyof typeof CAPTURE, number>;

async function addCapture(ns: string): Promise<() => Promise<Captured>> {
  const names = Object.keys(CAPTURE) as (keyof typeof CAPTURE)[];
  const script = [
    'table inet pmcap {',
    ...names.map((name) => `  counter ${name} {}`),
    '  chain pre {',
    '    type filter hook prerouting priority raw - 10; policy accept;',
    ...names.map((name) => `    ${CAPTURE[name]} counter name "${name}"`),
    '  }',
    '}',
  ].join('\n');
  await exec('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
  return async () => {
    const listed = JSON.parse(await execIn(ns, 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'pmcap']));
    const counters = (listed.nftables as { counter?: { name: string; packets: number } }[]).flatMap((item) =>
      item.counter ? [[item.counter.name, item.counter.packets] as const] : [],
    );
    return Object.fromEntries(counters) as Captured;
  };
}

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  test('the kill switch lets only the tunnels, their endpoints and their DNS through', async (t) => {
    if (!requireRoot(t)) return;
    const top = await createTopology();
    const dir = await mkdtemp(join(tmpdir(), 'pm-ks-'));
    t.after(async () => {
      await top.destroy();
      await rm(dir, { recursive: true, force: true });
    });
    const [client, server] = [top.a.ns, top.b.ns];
    const ifname = uniqueName('pmks-');
    await addTunnelLink(client, server, ifname, 'pmsrv');
    // Off the LAN, behind the server as the client's gateway: a public address, a ULA prefix the old
    // "all of fc00::/7" rule let through, and a global IPv6 address no tunnel routes.
    for (const address of ['203.0.113.9/32', 'fd99::9/128', '2001:db8:99::9/128'])
      await execIn(server, 'ip', ['address', 'add', address, 'dev', 'veth-b', 'nodad']);
    await execIn(server, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.forwarding=0']);
    await execIn(client, 'ip', ['route', 'add', 'default', 'via', '198.51.100.2']);
    await execIn(client, 'ip', ['route', 'add', '203.0.113.0/24', 'via', '198.51.100.2']);
    await execIn(client, 'ip', ['-6', 'route', 'add', 'fd99::/16', 'via', 'fd00:5::2']);
    await execIn(client, 'ip', ['-6', 'route', 'add', '2001:db8:99::/48', 'via', 'fd00:5::2']);
    const captured = await addCapture(server);
    const echo = await startUdpEcho(server, [51820, 4000, 53, 67]);
    const journal = join(dir, 'journal.json');
    const run = <T>(name: keyof typeof scenarios, args: Omit<Args, 'journal'> = {}) =>
      runInNamespace<T>(client, import.meta.url, name, { journal, ...args });
    const tunnel = {
      ifname,
      endpoints: [{ address: '198.51.100.2', port: 51820, family: 4 as const }],
      dns: ['192.0.2.1'],
      fwmark: MARK,
    };
    const set = (settings: Partial<KillSwitchSettings>) =>
      run<string[]>('set', { settings: { enabled: true, allowLan: false, tunnels: [tunnel], ...settings } });
    const seen = (pattern: RegExp): number =>
      echo
        .output()
        .split('\n')
        .filter((line) => pattern.test(line)).length;

    // The local networks as the kernel has them: the underlay, and its gateway as the DHCP server.
    assert.deepEqual(await run<LocalNetworks>('local', { exclude: [ifname] }), {
      subnets: ['198.51.100.0/24', 'fd00:5::/64'],
      dhcpServers: ['198.51.100.2'],
    });

    // Each probe, and what the server answers when it gets through: the client's address.
    const probes: Record<string, [Probe, string]> = {
      endpoint: [['198.51.100.2', 51820, MARK], '198.51.100.1'],
      endpointUnmarked: [['198.51.100.2', 51820], '198.51.100.1'],
      underlay: [['198.51.100.2', 4000], '198.51.100.1'],
      dnsOutside: [['198.51.100.2', 53], '198.51.100.1'],
      dnsTunnel: [['192.0.2.1', 53], '192.0.2.2'],
      tunnel: [['192.0.2.1', 4000], '192.0.2.2'],
      lanV6: [['fd00:5::2', 4000], 'fd00:5::1'],
      injectedV4: [['203.0.113.9', 4000], '198.51.100.1'],
      injectedV6: [['fd99::9', 4000], 'fd00:5::1'],
      clearV6: [['2001:db8:99::9', 4000], 'fd00:5::1'],
      tunnelV6: [['2001:db8:7::1', 4000], '2001:db8:7::2'],
      dnsTunnelOtherServer: [['2001:db8:7::1', 53], '2001:db8:7::2'],
    };
    const names = Object.keys(probes);
    const probeAll = async (): Promise<Record<string, boolean>> => {
      const answers = await run<string[]>('probes', { probes: names.map((name) => probes[name]![0]) });
      return Object.fromEntries(names.map((name, i) => [name, answers[i] === probes[name]![1]]));
    };
    const expect = (through: string[]): Record<string, boolean> =>
      Object.fromEntries(names.map((name) => [name, through.includes(name)]));
    const blockedNeverArrive = (): number[] => [
      seen(/^got 4000 from 198\.51\.100\.1$/),
      seen(/^got 53 from 198\.51\.100\.1$/),
      seen(/^got 53 from 2001:db8:7::2$/),
    ];
    // DHCP-shaped datagrams: to a public address, to broadcast, to the gateway.
    const dhcpTargets = ['203.0.113.9', '255.255.255.255', '198.51.100.2'];
    const dhcp = async (): Promise<boolean[]> =>
      (await run<string[]>('dhcp', { dhcp: dhcpTargets })).map((answer) => answer === '198.51.100.1');
    const sendNs = async (dst: string, target: string): Promise<string> =>
      (await execIn(client, 'python3', ['-c', SEND_NS, dst, 'veth-a', target])).trim();
    const ping = (address: string) => execIn(client, 'ping', ['-c', '1', '-W', '1', address]);

    await warmUp(client, ['198.51.100.2', '192.0.2.1', 'fd00:5::2', '2001:db8:7::1', 'fd99::9']);
    const before = await snapshotOf(client);
    assert.deepEqual(await probeAll(), expect(names), 'without the kill switch every probe is answered');
    assert.deepEqual(await dhcp(), [true, true, true], 'without the kill switch DHCP goes anywhere');
    assert.equal(await sendNs('2001:db8:99::9', '2001:db8:99::9'), 'sent');
    const open = await captured();
    assert.ok(open.dhcpPublic >= 1 && open.ndGlobal >= 1 && open.injectedV6 >= 1, JSON.stringify(open));
    const arrivedBefore = blockedNeverArrive();

    assert.deepEqual(await set({}), ['kill-switch']);
    const closed = ['endpoint', 'dnsTunnel', 'tunnel', 'tunnelV6'];
    assert.deepEqual(await probeAll(), expect(closed));
    assert.deepEqual(blockedNeverArrive(), arrivedBefore, 'a blocked datagram reached the server');
    await assert.rejects(ping('198.51.100.2'));
    await ping('192.0.2.1');

    // DHCP only to broadcast and the gateway; neighbour discovery only to link-scope addresses.
    const counted = await captured();
    assert.deepEqual(await dhcp(), [false, true, true]);
    assert.match(await sendNs('2001:db8:99::9', '2001:db8:99::9'), /^refused/);
    assert.equal(await sendNs('ff02::1:ff99:9', 'fd99::9'), 'sent');
    const after = await captured();
    assert.deepEqual(
      {
        dhcpPublic: after.dhcpPublic - counted.dhcpPublic,
        dhcpBroadcast: after.dhcpBroadcast - counted.dhcpBroadcast,
        dhcpGateway: after.dhcpGateway - counted.dhcpGateway,
        ndGlobal: after.ndGlobal - counted.ndGlobal,
        ndMulticast: after.ndMulticast - counted.ndMulticast,
        injected:
          after.injectedV4 +
          after.injectedV6 +
          after.clearV6 -
          counted.injectedV4 -
          counted.injectedV6 -
          counted.clearV6,
      },
      { dhcpPublic: 0, dhcpBroadcast: 1, dhcpGateway: 1, ndGlobal: 0, ndMulticast: 1, injected: 0 },
    );

    // The LAN (opt-in) is the subnets on the client's links: the underlay, not what a route sends
    // through its gateway (203.0.113.0/24, fd99::/16), not IPv6 in clear, and DNS still only through
    // the tunnel. The table is replaced in one go: still one table, one journal entry.
    const lanCounted = await captured();
    assert.deepEqual(await set({ allowLan: true }), ['kill-switch']);
    assert.deepEqual(await probeAll(), expect([...closed, 'lanV6', 'underlay', 'endpointUnmarked']));
    const lanAfter = await captured();
    assert.deepEqual(
      [lanAfter.injectedV4, lanAfter.injectedV6, lanAfter.clearV6],
      [lanCounted.injectedV4, lanCounted.injectedV6, lanCounted.clearV6],
      'a route towards a prefix off the LAN opened it',
    );
    assert.equal((await execIn(client, 'nft', ['list', 'tables'])).trim(), 'table inet phantommesh');
    assert.deepEqual(await set({}), ['kill-switch']);
    assert.deepEqual(await probeAll(), expect(closed));

    // The tunnel's interface goes away and comes back (a reconnect): the kill switch never moved.
    await execIn(client, 'ip', ['link', 'del', ifname]);
    assert.deepEqual(await probeAll(), expect(['endpoint']));
    await addTunnelLink(client, server, ifname, 'pmsrv');
    await warmUp(client, ['192.0.2.1', '2001:db8:7::1']); // through the tunnel: allowed
    assert.deepEqual(await probeAll(), expect(closed));

    // A tunnel whose socket has no mark: no process at all reaches its endpoint in clear.
    await set({ tunnels: [{ ...tunnel, fwmark: 0 }] });
    assert.deepEqual(await probeAll(), expect(closed.filter((name) => name !== 'endpoint')));

    // A crash with the kill switch on: recover() keeps it, and builds it again if it was lost.
    await set({});
    const recovered = await run<Awaited<ReturnType<typeof scenarios.recover>>>('recover');
    assert.deepEqual(recovered, {
      report: { killSwitchKept: true, undone: 0, failures: [] },
      kinds: ['kill-switch'],
    });
    assert.deepEqual(await probeAll(), expect(closed));
    await execIn(client, 'nft', ['delete', 'table', 'inet', 'phantommesh']); // as after a reboot
    assert.equal((await run<typeof recovered>('recover')).report.killSwitchKept, true);
    assert.deepEqual(await probeAll(), expect(closed));

    // Off removes the table entirely: the namespace is as it was.
    assert.deepEqual(await run('set', { settings: { enabled: false, allowLan: false, tunnels: [] } }), []);
    assert.deepEqual(await snapshotOf(client), before);
    assert.deepEqual(await probeAll(), expect(names));

    // A journal is settings, not nft text: a tampered one is refused, and one of an older helper
    // (which kept the text) is read as the strictest kill switch, none of its text loaded.
    const entry = { kind: 'kill-switch', table: 'phantommesh' };
    const settings = { allowLan: false, tunnels: [{ ...tunnel, ifname: 'wg0" accept #' }] };
    await writeFile(journal, JSON.stringify({ version: 1, changes: [{ ...entry, settings }] }));
    await assert.rejects(run('recover'), /not a network journal this helper understands/);
    const oldText =
      'table inet phantommesh {\n chain output {\n  type filter hook output priority 0; policy accept;\n }\n}\n';
    await writeFile(journal, JSON.stringify({ version: 1, changes: [{ ...entry, ruleset: oldText }] }));
    assert.equal((await run<typeof recovered>('recover')).report.killSwitchKept, true);
    assert.deepEqual(await probeAll(), expect([]));
    assert.doesNotMatch(
      await execIn(client, 'nft', ['list', 'table', 'inet', 'phantommesh']),
      /policy accept/,
    );
    assert.deepEqual(await run('set', { settings: { enabled: false, allowLan: false, tunnels: [] } }), []);
    assert.deepEqual(await snapshotOf(client), before);
  });

  test('the ruleset refuses what it cannot express safely', () => {
    const errorOf = (tunnel: object): string => {
      try {
        killSwitchRuleset({
          allowLan: false,
          tunnels: [{ endpoints: [], dns: [], ifname: 'wg0', fwmark: 1, ...tunnel }],
        });
        return 'accepted';
      } catch (error) {
        return (error as PhantomError).code;
      }
    };
    assert.equal(errorOf({ ifname: 'wg0" accept #' }), 'KILL_SWITCH_INVALID');
    assert.equal(
      errorOf({ endpoints: [{ address: '198.51.100.2; flush ruleset', port: 1, family: 4 }] }),
      'KILL_SWITCH_INVALID',
    );
    assert.equal(
      errorOf({ endpoints: [{ address: '198.51.100.2', port: 0, family: 4 }] }),
      'KILL_SWITCH_INVALID',
    );
    assert.equal(errorOf({ dns: ['dns.example'] }), 'KILL_SWITCH_INVALID');
    assert.equal(errorOf({ fwmark: 2 ** 32 }), 'KILL_SWITCH_INVALID');
    assert.equal(errorOf({ dns: ['2001:DB8::53'] }), 'accepted');
    // No tunnel at all is a lockdown: nothing but loopback, DHCP and neighbour discovery.
    const lockdown = killSwitchRuleset({ allowLan: false, tunnels: [] });
    assert.doesNotMatch(lockdown, /oifname \{|oifname "(?!lo")/);
    assert.match(lockdown, /chain dns \{\n\s+drop\n/);
  });
}
