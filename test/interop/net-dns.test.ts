// The tunnel's DNS (helper/src/net/dns_linux.ts) through each backend, and its crash recovery. Every
// scenario runs in a child with private network and mount namespaces that first lays an overlay over
// /etc (privateEtc), so the host's /etc/resolv.conf is never written. resolvectl and resolvconf are
// stand-in scripts laid over /usr/bin and /usr/sbin the same way: they log how they were called.

import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PhantomError } from '../../shared/src/errors.ts';
import { applyDns, detectDnsBackend, restoreDns } from '../../helper/src/net/dns_linux.ts';
import { NetworkJournal } from '../../helper/src/net/network-journal.ts';
import { resolvconfPath, resolvectlPath } from '../../helper/src/net/net_linux.ts';
import { exec, skipOutsideCi } from '../lib/netns.ts';
import { netnsUnavailable, runScenario, scenarioRequested, serveScenario } from '../lib/run-in-netns.ts';
import { expectMount, fileState, privateEtc, scenarioArgs, scenarioEnv } from './net-policy-lib.ts';

const RESOLV_CONF = '/etc/resolv.conf';
const ORIGINAL = 'nameserver 198.51.100.53\noptions ndots:2 # no newline at the end';
const DNS = { servers: ['192.0.2.53', '2001:DB8::53'], search: ['example.com', 'corp.example'] };
const WRITTEN = (ifname: string): string =>
  `# Written by PhantomMesh for ${ifname}; the previous file comes back when it disconnects.\n` +
  'nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com corp.example\n';

interface Args {
  dir: string;
}

/** A regular /etc/resolv.conf with an unusual mode and group, so "exactly" covers them too. */
async function originalFile(): Promise<void> {
  await unlink(RESOLV_CONF).catch(() => undefined);
  await writeFile(RESOLV_CONF, ORIGINAL);
  await chmod(RESOLV_CONF, 0o640);
  await chown(RESOLV_CONF, 0, 4);
}

/** A stand-in tool at `path` (inside an overlay over its directory) that logs its arguments and
 *  input, and fails while a file `fail-ARG` exists in `dir`, ARG being its first argument. */
async function fakeTool(dir: string, path: string): Promise<string> {
  const bin = join(dir, 'fake', path.slice(1).replaceAll('/', '_'));
  const log = join(dir, 'calls.log');
  await mkdir(bin, { recursive: true });
  const name = path.split('/').at(-1)!;
  await writeFile(
    join(bin, name),
    `#!/bin/sh\necho "${name} $*" >> ${log}\n` +
      `[ -t 0 ] || sed 's/^/  | /' >> ${log}\n` +
      `[ -e ${dir}/fail-$1 ] && { echo "${name}: refused" >&2; exit 1; }\nexit 0\n`,
    { mode: 0o755 },
  );
  const target = path.slice(0, path.lastIndexOf('/'));
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${bin}:${target}`, target]);
  await expectMount(target, 'overlay');
  return log;
}

const calls = (log: string): Promise<string> => readFile(log, 'utf8').catch(() => '');

const scenarios = {
  async regularFile() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    await originalFile();
    const before = await fileState(RESOLV_CONF);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    await applyDns(journal, 'pmdns0', DNS, 'resolv.conf');
    const during = await readFile(RESOLV_CONF, 'utf8');
    const recorded = JSON.parse(await readFile(journal.path, 'utf8')) as { changes: { kind: string }[] };
    await restoreDns(journal, 'pmdns0');
    return { before, during, recorded, after: await fileState(RESOLV_CONF), left: journal.changes.length };
  },

  async symlinked() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    await writeFile('/etc/pm-resolv-target.conf', ORIGINAL);
    await unlink(RESOLV_CONF).catch(() => undefined);
    await symlink('pm-resolv-target.conf', RESOLV_CONF);
    const before = await fileState(RESOLV_CONF);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    await applyDns(journal, 'pmdns0', DNS, 'resolv.conf');
    const during = await fileState(RESOLV_CONF);
    const target = await readFile('/etc/pm-resolv-target.conf', 'utf8');
    await restoreDns(journal, 'pmdns0');
    return { before, during, target, after: await fileState(RESOLV_CONF) };
  },

  // As in containers and under `ip netns exec`: /etc/resolv.conf is a mount point, which a rename
  // cannot replace.
  async bindMounted() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const source = join(dir, 'bound-resolv.conf');
    await writeFile(source, ORIGINAL);
    await exec('mount', ['--bind', source, RESOLV_CONF]);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    await applyDns(journal, 'pmdns0', DNS, 'resolv.conf');
    const during = await readFile(source, 'utf8');
    await restoreDns(journal, 'pmdns0');
    return { during, after: await readFile(source, 'utf8') };
  },

  // Two tunnels: the newer one's DNS is in force; each disconnect gives back the one before.
  async stacked() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    await originalFile();
    const before = await fileState(RESOLV_CONF);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    await applyDns(journal, 'pmdns0', DNS, 'resolv.conf');
    await applyDns(journal, 'pmdns1', { servers: ['198.51.100.7'], search: [] }, 'resolv.conf');
    const both = await readFile(RESOLV_CONF, 'utf8');
    await restoreDns(journal, 'pmdns1');
    const first = await readFile(RESOLV_CONF, 'utf8');
    await applyDns(journal, 'pmdns1', { servers: ['198.51.100.7'], search: [] }, 'resolv.conf');
    await restoreDns(journal, 'pmdns0');
    const second = await readFile(RESOLV_CONF, 'utf8');
    await restoreDns(journal, 'pmdns1');
    return { before, both, first, second, after: await fileState(RESOLV_CONF) };
  },

  // The helper dies with the tunnel's DNS in place: this process exits without restoring.
  async crash() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    await originalFile();
    const before = await fileState(RESOLV_CONF);
    await applyDns(await NetworkJournal.open(join(dir, 'journal.json')), 'pmdns0', DNS, 'resolv.conf');
    return { before, during: await readFile(RESOLV_CONF, 'utf8') };
  },

  async recover() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    const report = await journal.recover();
    return { report, after: await fileState(RESOLV_CONF), left: journal.changes.length };
  },

  async resolved() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const log = await fakeTool(dir, '/usr/bin/resolvectl');
    await writeFile(join(dir, 'fail-default-route'), '');
    // resolved's own resolv.conf, on a /run of our own.
    await exec('mount', ['-t', 'tmpfs', 'tmpfs', '/run']);
    await mkdir('/run/systemd/resolve', { recursive: true });
    await writeFile('/run/systemd/resolve/stub-resolv.conf', 'nameserver 127.0.0.53\n');
    await unlink(RESOLV_CONF).catch(() => undefined);
    await symlink('../run/systemd/resolve/stub-resolv.conf', RESOLV_CONF);
    const backend = await detectDnsBackend();
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    // The stand-in refuses default-route: all or nothing, so the link is reverted and nothing stays.
    const refused = await applyDns(journal, 'pmdns0', DNS).then(
      () => 'applied',
      (error: PhantomError) => error.message,
    );
    const afterRefusal = { calls: await calls(log), left: journal.changes.length };
    await writeFile(log, '');
    await unlink(join(dir, 'fail-default-route'));
    await applyDns(journal, 'pmdns0', DNS);
    const applied = await calls(log);
    await writeFile(log, '');
    await restoreDns(journal, 'pmdns0');
    return {
      backend,
      refused,
      afterRefusal,
      applied,
      restored: await calls(log),
      left: journal.changes.length,
    };
  },

  async resolvconf() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const log = await fakeTool(dir, '/usr/sbin/resolvconf');
    await originalFile();
    await mkdir('/etc/resolvconf', { recursive: true });
    // Debian's interface-order: the first `name*` line gives wg-quick's record prefix.
    await writeFile('/etc/resolvconf/interface-order', 'lo.inet6\nlo.inet\nlo\ntun*\ntap*\n*\n');
    const backend = await detectDnsBackend();
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    await applyDns(journal, 'pmdns0', DNS);
    const applied = await calls(log);
    await writeFile(log, '');
    await restoreDns(journal, 'pmdns0');
    return { backend, applied, restored: await calls(log), file: await readFile(RESOLV_CONF, 'utf8') };
  },

  async invalid() {
    const { dir } = scenarioArgs<Args>();
    await privateEtc(dir);
    const journal = await NetworkJournal.open(join(dir, 'journal.json'));
    const errorOf = (servers: string[], search: string[]) =>
      applyDns(journal, 'pmdns0', { servers, search }, 'resolv.conf').then(
        () => 'applied',
        (error: PhantomError) => error.code,
      );
    return {
      server: await errorOf(['192.0.2.300'], []),
      search: await errorOf(['192.0.2.53'], ['evil\nnameserver 203.0.113.66']),
      interfaceName: await applyDns(journal, 'bad"name', DNS, 'resolv.conf').catch(
        (e: PhantomError) => e.code,
      ),
      searchOnly: await errorOf([], ['example.com']),
      left: journal.changes.length,
      written: (await readFile(RESOLV_CONF, 'utf8')).includes('PhantomMesh'),
    };
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const skip = skipOutsideCi(netnsUnavailable());
  const run = async <K extends keyof typeof scenarios>(
    name: K,
    dir?: string,
  ): Promise<Awaited<ReturnType<(typeof scenarios)[K]>>> => {
    const own = dir ?? (await mkdtemp(join(tmpdir(), 'pm-dns-')));
    try {
      return await runScenario<Awaited<ReturnType<(typeof scenarios)[K]>>>(import.meta.url, name, {
        privateMounts: true,
        env: scenarioEnv({ dir: own }),
      });
    } finally {
      if (!dir) await rm(own, { recursive: true, force: true });
    }
  };
  const hostResolvConf = await fileState(RESOLV_CONF);
  const untouched = (): Promise<void> =>
    fileState(RESOLV_CONF).then((now) =>
      assert.deepEqual(now, hostResolvConf, "the host's resolv.conf changed"),
    );

  test(
    'resolv.conf: the tunnel DNS is written, and the original comes back byte for byte',
    { skip },
    async () => {
      const r = await run('regularFile');
      assert.equal(r.during, WRITTEN('pmdns0'));
      assert.deepEqual(
        r.recorded.changes.map((change) => change.kind),
        ['file'],
      );
      assert.deepEqual(r.after, r.before);
      assert.deepEqual(r.before, {
        type: 'file',
        base64: Buffer.from(ORIGINAL).toString('base64'),
        mode: 0o640,
        uid: 0,
        gid: 4,
      });
      assert.equal(r.left, 0);
      await untouched();
    },
  );

  test(
    'resolv.conf: a symlink is replaced, its target left alone, and the link restored',
    { skip },
    async () => {
      const r = await run('symlinked');
      assert.deepEqual(r.before, { type: 'symlink', target: 'pm-resolv-target.conf' });
      assert.equal(r.during.type, 'file');
      assert.equal(r.target, ORIGINAL);
      assert.deepEqual(r.after, r.before);
      await untouched();
    },
  );

  test('resolv.conf: a bind-mounted file is written in place and restored', { skip }, async () => {
    const r = await run('bindMounted');
    assert.equal(r.during, WRITTEN('pmdns0'));
    assert.equal(r.after, ORIGINAL);
    await untouched();
  });

  test(
    'resolv.conf: two tunnels stack, and the last disconnect restores the original',
    { skip },
    async () => {
      const r = await run('stacked');
      assert.match(r.both, /for pmdns1;[^]*nameserver 198\.51\.100\.7\n$/);
      assert.equal(r.first, WRITTEN('pmdns0'));
      assert.match(r.second, /for pmdns1;/);
      assert.deepEqual(r.after, r.before);
      await untouched();
    },
  );

  test('resolv.conf: after a crash, recover() restores the original exactly', { skip }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-dns-'));
    try {
      const crashed = await run('crash', dir);
      assert.equal(crashed.during, WRITTEN('pmdns0'));
      const r = await run('recover', dir);
      assert.deepEqual(r.report, { killSwitchKept: false, undone: 1, failures: [] });
      assert.deepEqual(r.after, crashed.before);
      assert.equal(r.left, 0);
      const again = await run('recover', dir);
      assert.deepEqual(again.report, { killSwitchKept: false, undone: 0, failures: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await untouched();
  });

  test('systemd-resolved: per-link DNS routing every name, all or nothing, reverted', { skip }, async () => {
    const r = await run('resolved');
    assert.equal(r.backend, 'resolved');
    assert.match(r.refused, /resolvectl default-route pmdns0 true failed: resolvectl: refused/);
    assert.deepEqual(r.afterRefusal, {
      calls:
        'resolvectl dns pmdns0 192.0.2.53 2001:db8::53\n' +
        'resolvectl domain pmdns0 ~. example.com corp.example\n' +
        'resolvectl default-route pmdns0 true\n' +
        'resolvectl revert pmdns0\n',
      left: 0,
    });
    assert.equal(
      r.applied,
      'resolvectl dns pmdns0 192.0.2.53 2001:db8::53\n' +
        'resolvectl domain pmdns0 ~. example.com corp.example\n' +
        'resolvectl default-route pmdns0 true\n',
    );
    assert.equal(r.restored, 'resolvectl revert pmdns0\n');
    assert.equal(r.left, 0);
  });

  test(
    'resolvconf: a wg-quick record (tun.IF, metric 0, exclusive), deleted on restore',
    { skip },
    async () => {
      const r = await run('resolvconf');
      // With a real resolvectl installed, resolved would still not be chosen: resolv.conf is not its.
      assert.equal(r.backend, 'resolvconf');
      assert.equal(
        r.applied,
        'resolvconf -a tun.pmdns0 -m 0 -x\n' +
          WRITTEN('pmdns0')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => `  | ${line}\n`)
            .join(''),
      );
      assert.equal(r.restored, 'resolvconf -d tun.pmdns0 -f\n');
      assert.equal(r.file, ORIGINAL); // resolvconf's business, not ours
    },
  );

  test('invalid servers, search domains and names change nothing', { skip }, async () => {
    const r = await run('invalid');
    assert.equal(r.server, 'DNS_INVALID');
    assert.equal(r.search, 'DNS_INVALID');
    assert.equal(r.interfaceName, 'NETWORK_CHANGE_INVALID');
    assert.equal(r.searchOnly, 'applied'); // as wg-quick: search domains without servers are ignored
    assert.equal(r.left, 0);
    assert.equal(r.written, false);
  });

  const manager = resolvectlPath() ?? resolvconfPath();
  test(
    'detectDnsBackend picks resolv.conf when neither resolved nor resolvconf is installed',
    { skip: manager ? `this host has ${manager}` : false },
    async () => {
      assert.equal(await detectDnsBackend(), 'resolv.conf');
    },
  );
}
