// Crash recovery of everything the helper changes (helper/src/net/journal.ts): one process makes a
// full tunnel, the tunnel's DNS and the kill switch, and exits without undoing anything; a second
// process recovers from the journal file. Both run in the client namespace with the same private
// /etc overlay (privateEtc), so /etc/resolv.conf is theirs, not the host's.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePrefix } from '../../shared/src/ip.ts';
import { applyDns } from '../../helper/src/net/dns_linux.ts';
import { enableFullTunnel } from '../../helper/src/net/full-tunnel_linux.ts';
import { NetworkJournal } from '../../helper/src/net/network-journal.ts';
import { setKillSwitch } from '../../helper/src/net/killswitch_linux.ts';
import { createTopology, execIn, requireRoot, uniqueName } from '../lib/netns.ts';
import { scenarioRequested, serveScenario } from '../lib/run-in-netns.ts';
import {
  addTunnelLink,
  fileState,
  privateEtc,
  runInNamespace,
  scenarioArgs,
  snapshotHere,
} from './net-policy-lib.ts';

interface Args {
  dir: string;
  ifname: string;
}

const RESOLV_CONF = '/etc/resolv.conf';
const journalIn = (dir: string): Promise<NetworkJournal> => NetworkJournal.open(join(dir, 'journal.json'));

async function state() {
  return { network: await snapshotHere(), resolvConf: await fileState(RESOLV_CONF) };
}

const scenarios = {
  // The system's DNS as systemd or NetworkManager leave it: /etc/resolv.conf is a symlink.
  async prepare() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    await writeFile('/etc/pm-managed-resolv.conf', 'nameserver 198.51.100.53\n');
    await unlink(RESOLV_CONF).catch(() => undefined);
    await symlink('pm-managed-resolv.conf', RESOLV_CONF);
    return state();
  },

  async crash() {
    const { dir, ifname } = scenarioArgs<Args>();
    await privateEtc(dir);
    const journal = await journalIn(dir);
    await enableFullTunnel(journal, {
      ifname,
      fwmark: 51820,
      families: { v4: true, v6: true },
      addresses: [parsePrefix('192.0.2.2/24')!, parsePrefix('2001:db8:7::2/64')!],
    });
    await applyDns(journal, ifname, { servers: ['192.0.2.1'], search: ['example.com'] }, 'resolv.conf');
    await setKillSwitch(journal, {
      enabled: true,
      allowLan: false,
      tunnels: [
        {
          ifname,
          endpoints: [{ address: '198.51.100.2', port: 51820, family: 4 }],
          dns: ['192.0.2.1'],
          fwmark: 51820,
        },
      ],
    });
    // Exits here, as a crash would: nothing is undone.
    return { ...(await state()), kinds: journal.changes.map((change) => change.kind) };
  },

  async recover() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const journal = await journalIn(dir);
    const report = await journal.recover();
    return { report, ...(await state()), kinds: journal.changes.map((change) => change.kind) };
  },

  async killSwitchOff() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const journal = await journalIn(dir);
    await setKillSwitch(journal, { enabled: false, allowLan: false, tunnels: [] });
    return { ...(await state()), journal: await readFile(journal.path, 'utf8') };
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  test('after a crash, recover() undoes routes, rules, sysctls, nft and DNS, and keeps the kill switch', async (t) => {
    if (!requireRoot(t)) return;
    const top = await createTopology();
    const dir = await mkdtemp(join(tmpdir(), 'pm-recover-'));
    t.after(async () => {
      await top.destroy();
      await rm(dir, { recursive: true, force: true });
    });
    const client = top.a.ns;
    const ifname = uniqueName('pmrc-');
    await addTunnelLink(client, top.b.ns, ifname, 'pmsrv');
    await execIn(client, 'ip', ['route', 'add', 'default', 'via', '198.51.100.2']);
    const run = <K extends keyof typeof scenarios>(name: K) =>
      runInNamespace<Awaited<ReturnType<(typeof scenarios)[K]>>>(client, import.meta.url, name, {
        dir,
        ifname,
      });

    const before = await run('prepare');
    assert.deepEqual(before.resolvConf, { type: 'symlink', target: 'pm-managed-resolv.conf' });

    const crashed = await run('crash');
    assert.deepEqual(crashed.kinds, [
      ...['fwmark-rule', 'suppress-rule', 'route', 'fwmark-rule', 'suppress-rule', 'route'],
      ...['nft-table', 'sysctl', 'file', 'kill-switch'],
    ]);
    assert.match(crashed.network.rules4, /not from all fwmark 0xca6c lookup 51820/);
    assert.match(crashed.network.routes6, /^default dev pmrc-\S+ table 51820/m);
    assert.match(crashed.network.sysctls, /src_valid_mark = 1/);
    assert.match(crashed.network.nft, /table inet phantommesh-pmrc-[^]*table inet phantommesh \{/);
    assert.equal(crashed.resolvConf.type, 'file');

    const recovered = await run('recover');
    assert.deepEqual(recovered.report, { killSwitchKept: true, undone: 9, failures: [] });
    assert.deepEqual(recovered.kinds, ['kill-switch']);
    assert.deepEqual(recovered.resolvConf, before.resolvConf);
    const { nft, ...rest } = recovered.network;
    const { nft: nftBefore, ...restBefore } = before.network;
    assert.deepEqual(rest, restBefore);
    assert.equal(nftBefore, '');
    assert.match(nft, /^table inet phantommesh \{/);
    assert.doesNotMatch(nft, /phantommesh-/);

    const off = await run('killSwitchOff');
    assert.deepEqual(off.network, before.network);
    assert.deepEqual(off.resolvConf, before.resolvConf);
    assert.deepEqual(JSON.parse(off.journal), { version: 1, changes: [] });
  });
}
