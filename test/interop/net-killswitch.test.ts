// The kill switch (helper/src/net/killswitch_linux.ts) against the real kernel: a client and a
// server joined by an underlay veth, and a second veth standing in for the tunnel. UDP echo servers
// on the server log every datagram that reaches them, so "blocked" means it never arrived.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PhantomError } from '../../shared/src/errors.ts';
import { NetworkJournal } from '../../helper/src/net/network-journal.ts';
import {
  killSwitchRuleset,
  setKillSwitch,
  type KillSwitchSettings,
} from '../../helper/src/net/killswitch_linux.ts';
import { createTopology, execIn, requireRoot, uniqueName } from '../lib/netns.ts';
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
}

/** [address, port, fwmark?] */
type Probe = [string, number, number?];

const scenarios = {
  async set() {
    const { journal, settings } = scenarioArgs<Args>();
    const opened = await NetworkJournal.open(journal);
    await setKillSwitch(opened, settings!);
    return opened.changes.map((change) => change.kind);
  },

  async probes() {
    const { probes } = scenarioArgs<Args>();
    return Promise.all(probes!.map(([address, port, fwmark]) => udpProbe(address, port, fwmark)));
  },

  async recover() {
    const { journal } = scenarioArgs<Args>();
    const opened = await NetworkJournal.open(journal);
    return { report: await opened.recover(), kinds: opened.changes.map((change) => change.kind) };
  },
};

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
    const echo = await startUdpEcho(server, [51820, 4000, 53]);
    const journal = join(dir, 'journal.json');
    const run = <T>(name: keyof typeof scenarios, args: Omit<Args, 'journal'> = {}) =>
      runInNamespace<T>(client, import.meta.url, name, { journal, ...args });
    const tunnel = {
      ifname,
      endpoints: [{ address: '198.51.100.2', port: 51820, family: 4 as const }],
      dns: ['192.0.2.1'],
    };
    const set = (settings: Partial<KillSwitchSettings>) =>
      run<string[]>('set', { settings: { enabled: true, allowLan: false, tunnels: [tunnel], ...settings } });
    const seen = (pattern: RegExp): number =>
      echo
        .output()
        .split('\n')
        .filter((line) => pattern.test(line)).length;

    // Each probe, and what the server answers when it gets through: the client's address.
    const probes: Record<string, [Probe, string]> = {
      endpoint: [['198.51.100.2', 51820], '198.51.100.1'],
      underlay: [['198.51.100.2', 4000], '198.51.100.1'],
      dnsOutside: [['198.51.100.2', 53], '198.51.100.1'],
      dnsTunnel: [['192.0.2.1', 53], '192.0.2.2'],
      tunnel: [['192.0.2.1', 4000], '192.0.2.2'],
      lanV6: [['fd00:5::2', 4000], 'fd00:5::1'],
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
    const ping = (address: string) => execIn(client, 'ping', ['-c', '1', '-W', '1', address]);

    await warmUp(client, ['198.51.100.2', '192.0.2.1', 'fd00:5::2', '2001:db8:7::1']);
    const before = await snapshotOf(client);
    assert.deepEqual(await probeAll(), expect(names), 'without the kill switch every probe is answered');
    const arrivedBefore = blockedNeverArrive();

    assert.deepEqual(await set({}), ['kill-switch']);
    const closed = ['endpoint', 'dnsTunnel', 'tunnel', 'tunnelV6'];
    assert.deepEqual(await probeAll(), expect(closed));
    assert.deepEqual(blockedNeverArrive(), arrivedBefore, 'a blocked datagram reached the server');
    await assert.rejects(ping('198.51.100.2'));
    await ping('192.0.2.1');

    // Allowing the LAN replaces the table in one go: still one table, one journal entry.
    assert.deepEqual(await set({ allowLan: true }), ['kill-switch']);
    assert.deepEqual(await probeAll(), expect([...closed, 'lanV6']));
    assert.equal((await execIn(client, 'nft', ['list', 'tables'])).trim(), 'table inet phantommesh');
    assert.deepEqual(await set({}), ['kill-switch']);
    assert.deepEqual(await probeAll(), expect(closed));

    // The tunnel's interface goes away and comes back (a reconnect): the kill switch never moved.
    await execIn(client, 'ip', ['link', 'del', ifname]);
    assert.deepEqual(await probeAll(), expect(['endpoint']));
    await addTunnelLink(client, server, ifname, 'pmsrv');
    await warmUp(client, ['192.0.2.1', '2001:db8:7::1']); // through the tunnel: allowed
    assert.deepEqual(await probeAll(), expect(closed));

    // With the tunnel's fwmark, only the marked socket reaches the endpoint.
    await set({ tunnels: [{ ...tunnel, fwmark: 51820 }] });
    const [unmarked, marked] = await run<string[]>('probes', {
      probes: [
        ['198.51.100.2', 51820],
        ['198.51.100.2', 51820, 51820],
      ],
    });
    assert.deepEqual([unmarked, marked], ['nothing', '198.51.100.1']);

    // A crash with the kill switch on: recover() keeps it, and loads it again if it was lost.
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
  });

  test('the ruleset refuses what it cannot express safely', () => {
    const errorOf = (tunnel: object): string => {
      try {
        killSwitchRuleset({
          allowLan: false,
          tunnels: [{ endpoints: [], dns: [], ifname: 'wg0', ...tunnel }],
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
