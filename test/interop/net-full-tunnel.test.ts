// The loop-free full tunnel (helper/src/net/full-tunnel_linux.ts) against the real kernel: a client,
// a server it reaches over a veth (the underlay), and an "internet" host behind the server. A second
// veth between client and server stands in for the TUN; the real helper's end-to-end run is separate.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { parsePrefix } from '../../shared/src/ip.ts';
import { disableFullTunnel, enableFullTunnel } from '../../helper/src/net/full-tunnel_linux.ts';
import { NetworkJournal } from '../../helper/src/net/network-journal.ts';
import { createTopology, exec, execIn, requireRoot, uniqueName } from '../lib/netns.ts';
import { runScenario, scenarioRequested, serveScenario } from '../lib/run-in-netns.ts';
import {
  addTunnelLink,
  runInNamespace,
  scenarioArgs,
  snapshotHere,
  snapshotOf,
  startUdpEcho,
  udpProbe,
  warmUp,
} from './net-policy-lib.ts';

interface Args {
  journal: string;
  ifname: string;
}

const ECHO_PORT = 7777;

const scenarios = {
  async enable() {
    const { journal, ifname } = scenarioArgs<Args>();
    return enableFullTunnel(await NetworkJournal.open(journal), {
      ifname,
      fwmark: 51820,
      families: { v4: true, v6: true },
      addresses: [parsePrefix('192.0.2.2/24')!, parsePrefix('2001:db8:7::2/64')!],
    });
  },

  async disable() {
    const { journal, ifname } = scenarioArgs<Args>();
    const opened = await NetworkJournal.open(journal);
    await disableFullTunnel(opened, ifname);
    return { left: opened.changes.length };
  },

  async probes() {
    const probe = (address: string, fwmark?: number) => udpProbe(address, ECHO_PORT, fwmark);
    return {
      v4: await probe('203.0.113.9'),
      v4Marked: await probe('203.0.113.9', 51820),
      v6: await probe('2001:db8:9::9'),
      v6Marked: await probe('2001:db8:9::9', 51820),
    };
  },

  // In a fresh namespace: table choice, a vanished interface, and all-or-nothing on failure.
  async tableAndFailures() {
    const dir = await mkdtemp(join(tmpdir(), 'pm-ft-'));
    try {
      await exec('ip', ['link', 'add', 'pmv0', 'type', 'veth', 'peer', 'name', 'pmv1']);
      for (const dev of ['pmv0', 'pmv1']) await exec('ip', ['link', 'set', dev, 'up']);
      await exec('ip', ['route', 'add', '198.18.0.0/15', 'dev', 'pmv0', 'table', '51820']);
      const journal = await NetworkJournal.open(join(dir, 'journal.json'));
      const before = await snapshotHere();
      const chosen = await enableFullTunnel(journal, {
        ifname: 'pmv1',
        families: { v4: true, v6: false },
        addresses: [parsePrefix('192.0.2.2/24')!],
      });
      const rules = await exec('ip', ['-4', 'rule']);
      const v6Rules = await exec('ip', ['-6', 'rule']);
      await exec('ip', ['link', 'del', 'pmv0']); // takes pmv1 along: the TUN going away with a crash
      await disableFullTunnel(journal, 'pmv1');
      const after = await snapshotHere();
      const failed = await enableFullTunnel(journal, {
        ifname: 'pm-missing',
        fwmark: 51900,
        families: { v4: true, v6: true },
        addresses: [],
      }).catch((error: PhantomError) => ({ code: error.code, message: error.message }));
      const afterFailure = await snapshotHere();
      const badMark = await enableFullTunnel(journal, {
        ifname: 'pmv1',
        fwmark: 0,
        families: { v4: true, v6: false },
        addresses: [],
      }).catch((error: PhantomError) => error.code);
      return { before, chosen, rules, v6Rules, after, failed, afterFailure, badMark, left: journal.changes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const routeGet = async (ns: string, args: string[]): Promise<string> =>
    (await execIn(ns, 'ip', ['route', 'get', ...args])).split('\n')[0]!;

  test('a full tunnel routes everything but the marked UDP socket into the tunnel, as wg-quick', async (t) => {
    if (!requireRoot(t)) return;
    const top = await createTopology();
    const edge = await createTopology({
      a: { ipv4: '203.0.113.1/24', ipv6: '2001:db8:9::1/64' },
      b: { ipv4: '203.0.113.9/24', ipv6: '2001:db8:9::9/64' },
    });
    const dir = await mkdtemp(join(tmpdir(), 'pm-ft-'));
    t.after(async () => {
      await top.destroy();
      await edge.destroy();
      await rm(dir, { recursive: true, force: true });
    });
    const [client, server, internet] = [top.a.ns, top.b.ns, edge.b.ns];
    // The server sits between the client and the internet host: move edge's veth-a into it.
    await execIn(edge.a.ns, 'ip', ['link', 'set', 'veth-a', 'netns', server]);
    await execIn(server, 'ip', ['address', 'add', '203.0.113.1/24', 'dev', 'veth-a']);
    await execIn(server, 'ip', ['address', 'add', '2001:db8:9::1/64', 'dev', 'veth-a', 'nodad']);
    await execIn(server, 'ip', ['link', 'set', 'veth-a', 'up']);
    await execIn(server, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await execIn(internet, 'ip', ['route', 'add', 'default', 'via', '203.0.113.1']);
    await execIn(internet, 'ip', ['-6', 'route', 'add', 'default', 'via', '2001:db8:9::1']);
    const ifname = uniqueName('pmft-');
    await addTunnelLink(client, server, ifname, 'pmsrv');
    await execIn(server, 'ip', ['-6', 'neigh', 'add', 'proxy', '2001:db8:9::9', 'dev', 'pmsrv']);
    // The client's own default routes go over the underlay; strict reverse-path filtering, so the
    // marked flow's replies only get in through the conntrack mark and src_valid_mark.
    await execIn(client, 'ip', ['route', 'add', 'default', 'via', '198.51.100.2']);
    await execIn(client, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:5::2']);
    await execIn(client, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1']);
    await startUdpEcho(internet, [ECHO_PORT]);
    const args: Args = { journal: join(dir, 'journal.json'), ifname };
    const run = <T>(name: keyof typeof scenarios) => runInNamespace<T>(client, import.meta.url, name, args);
    type Probes = Awaited<ReturnType<typeof scenarios.probes>>;

    await warmUp(client, ['203.0.113.9', '2001:db8:9::9']);
    const before = await snapshotOf(client);
    assert.deepEqual(await run<Probes>('probes'), {
      v4: '198.51.100.1',
      v4Marked: '198.51.100.1',
      v6: 'fd00:5::1',
      v6Marked: 'fd00:5::1',
    });
    // The spoofing check below must be able to fail: without the tunnel this packet is answered.
    await execIn(server, 'ping', ['-c', '1', '-W', '1', '-I', 'veth-b', '192.0.2.2']);

    assert.deepEqual(await run('enable'), { table: 51820, fwmark: 51820 });
    await warmUp(client, ['203.0.113.9', '2001:db8:9::9']); // now through the tunnel
    for (const family of ['-4', '-6']) {
      const rules = await execIn(client, 'ip', [family, 'rule']);
      assert.match(rules, /^32765:\s+not from all fwmark 0xca6c lookup 51820\s*$/m, rules);
      assert.match(rules, /^32764:\s+from all lookup main suppress_prefixlength 0\s*$/m, rules);
    }
    assert.match(await routeGet(client, ['203.0.113.9']), new RegExp(`^203\\.0\\.113\\.9 dev ${ifname} `));
    assert.match(
      await routeGet(client, ['203.0.113.9', 'mark', '51820']),
      / via 198\.51\.100\.2 dev veth-a /,
    );
    assert.match(await routeGet(client, ['198.51.100.2']), /^198\.51\.100\.2 dev veth-a /);
    assert.match(await routeGet(client, ['2001:db8:9::9']), new RegExp(` dev ${ifname} `));
    assert.match(await routeGet(client, ['2001:db8:9::9', 'mark', '51820']), / via fd00:5::2 dev veth-a /);
    assert.match(await execIn(client, 'sysctl', ['net.ipv4.conf.all.src_valid_mark']), /= 1$/m);
    const nft = await execIn(client, 'nft', ['list', 'table', 'inet', `phantommesh-${ifname}`]);
    assert.match(
      nft,
      new RegExp(`iifname != "${ifname}" ip daddr 192\\.0\\.2\\.2 fib saddr type != local drop`),
    );
    assert.match(nft, /meta l4proto { tcp, udp } meta mark 0x0000ca6c ct mark set meta mark/);

    // What the internet host saw: unmarked traffic came through the tunnel, the marked socket's
    // over the underlay, and every answer made it back.
    assert.deepEqual(await run<Probes>('probes'), {
      v4: '192.0.2.2',
      v4Marked: '198.51.100.1',
      v6: '2001:db8:7::2',
      v6Marked: 'fd00:5::1',
    });
    await assert.rejects(execIn(server, 'ping', ['-c', '1', '-W', '1', '-I', 'veth-b', '192.0.2.2']));

    assert.deepEqual(await run('disable'), { left: 0 });
    assert.deepEqual(await snapshotOf(client), before);
    assert.equal((await run<Probes>('probes')).v4, '198.51.100.1');
  });

  test('the first free table is chosen, a vanished interface is no error, a failure undoes itself', async (t) => {
    if (!requireRoot(t)) return;
    type Result = Awaited<ReturnType<typeof scenarios.tableAndFailures>>;
    const r = await runScenario<Result>(import.meta.url, 'tableAndFailures');
    assert.deepEqual(r.chosen, { table: 51821, fwmark: 51821 }); // 51820 holds a route
    assert.match(r.rules, /not from all fwmark 0xca6d lookup 51821/);
    assert.doesNotMatch(r.v6Rules, /51821|suppress_prefixlength/); // IPv4 only
    assert.equal(r.after.rules4, r.before.rules4);
    assert.equal(r.after.rules6, r.before.rules6);
    assert.equal(r.after.nft, r.before.nft);
    assert.equal(r.after.sysctls, r.before.sysctls);
    assert.ok('code' in r.failed, 'enabling on a missing interface must fail');
    assert.equal(r.failed.code, 'NET_CONFIG_FAILED');
    assert.match(r.failed.message, /Cannot find device "pm-missing"/);
    assert.deepEqual(r.afterFailure, r.after);
    assert.equal(r.badMark, 'FWMARK_INVALID');
    assert.deepEqual(r.left, []);
  });
}
