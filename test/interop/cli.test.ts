// The `phantommesh` CLI driving the real helper service, against a wireguard-go server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  missingPrerequisites,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Topology,
} from '../lib/netns.ts';
import { startService, type Service } from '../lib/service.ts';
import { ourConfigText, THEIR_PORT, INNER } from '../lib/tunnel-pair.ts';

const CLI = new URL('../../helper/src/cli/phantommesh.ts', import.meta.url).pathname;
const skip = missingPrerequisites() ?? false;
let topology: Topology;
let service: Service;
let ours: KeyPair;
let dir: string;

/** Runs the CLI; resolves with stdout and the exit code (0 when it succeeded). */
async function cli(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    return { out: await exec(process.execPath, [CLI, '--socket', service.socketPath, ...args]), code: 0 };
  } catch (error) {
    const message = (error as Error).message;
    return { out: message, code: Number(/exit (\d+)/.exec(message)?.[1] ?? -1) };
  }
}

before(async () => {
  if (skip) return;
  topology = await createTopology();
  [ours] = await Promise.all([genKeyPair()]);
  const theirs = await genKeyPair();
  await startWireguardGo(topology.b.ns, uniqueName('pmc'), {
    privateKey: theirs.privateKey,
    listenPort: THEIR_PORT,
    addresses: [`${INNER.theirs4}/24`],
    peers: [{ publicKey: ours.publicKey, allowedIps: [`${INNER.ours4}/32`] }],
  });
  service = await startService(topology.a.ns);
  dir = await mkdtemp(join(tmpdir(), 'pm-cli-'));
  await writeFile(
    join(dir, 'office.conf'),
    ourConfigText({
      privateKey: ours.privateKey,
      peerPublicKey: theirs.publicKey,
      endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
      persistentKeepalive: 25,
    }),
    { mode: 0o600 },
  );
});

after(async () => {
  if (skip) return;
  await service.destroy();
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
});

test('import, list and show: public keys only', { skip }, async () => {
  const imported = await cli('import', join(dir, 'office.conf'));
  assert.equal(imported.code, 0, imported.out);
  assert.match(
    imported.out,
    new RegExp(`imported office \\(public key ${ours.publicKey.replace(/[+/]/g, '\\$&')}\\)`),
  );
  assert.match((await cli('list')).out, /^office\s+disconnected/m);
  const listed = JSON.parse((await cli('--json', 'list')).out) as Array<{ name: string }>;
  assert.deepEqual(
    listed.map((t) => t.name),
    ['office'],
  );
  const shown = await cli('show', 'office');
  assert.match(shown.out, /public key: /);
  assert.ok(!shown.out.includes(ours.privateKey), 'the private key never leaves the helper');
});

test('up, status, down', { skip }, async () => {
  const up = await cli('up', 'office');
  assert.equal(up.code, 0, up.out);
  assert.match(up.out, /office: connected/);
  const status = JSON.parse((await cli('status', '--json')).out) as {
    tunnels: Array<{ state: string; rxBytes: number }>;
  };
  assert.equal(status.tunnels[0]!.state, 'connected');
  assert.match((await cli('status')).out, /latest handshake: \d+ s ago/);
  assert.equal((await cli('down')).code, 0);
  assert.match((await cli('status')).out, /no tunnel is up/);
});

test('new generates a key pair; export hides secrets unless root asks for them', { skip }, async () => {
  const created = await cli('new', 'home');
  assert.match(created.out, /public key: [A-Za-z0-9+/]{43}=/);
  assert.doesNotMatch((await cli('export', 'office')).out, /PrivateKey/);
  assert.match(
    (await cli('export', 'office', '--private-key')).out,
    new RegExp(`PrivateKey = ${ours.privateKey.replace(/[+/]/g, '\\$&')}`),
  );
  assert.equal((await cli('delete', 'home')).code, 0);
  assert.doesNotMatch((await cli('list')).out, /home/);
});

test('kill-switch on|off is a setting', { skip }, async () => {
  assert.match((await cli('kill-switch', 'on')).out, /kill switch on/);
  assert.match((await cli('status')).out, /kill switch: on/);
  assert.match((await cli('kill-switch', 'off')).out, /kill switch off/);
});

test('exit codes mean something: 1 refused, 2 usage, 3 no helper', { skip }, async () => {
  const refused = await cli('show', 'nosuch');
  assert.equal(refused.code, 1);
  assert.match(refused.out, /nosuch/);
  assert.equal((await cli('kill-switch', 'maybe')).code, 2);
  const { code, out } = await exec(process.execPath, [
    CLI,
    '--socket',
    join(dir, 'absent.sock'),
    'list',
  ]).then(
    (o) => ({ code: 0, out: o }),
    (e: Error) => ({ code: Number(/exit (\d+)/.exec(e.message)?.[1]), out: e.message }),
  );
  assert.equal(code, 3);
  assert.match(out, /helper is not available/);
});

test('a user outside the phantommesh group gets exit code 4', { skip }, async () => {
  const denied = await exec('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    process.execPath,
    CLI,
    '--socket',
    service.socketPath,
    'list',
  ]).then(
    () => ({ code: 0, out: '' }),
    (e: Error) => ({ code: Number(/exit (\d+)/.exec(e.message)?.[1]), out: e.message }),
  );
  assert.equal(denied.code, 4, denied.out);
  assert.match(denied.out, /not authorized|permission/i);
});

test('a tunnel whose routes clash with one that is up is refused, naming both', { skip }, async () => {
  const clashing = join(dir, 'clash.conf');
  await writeFile(
    clashing,
    ourConfigText({ privateKey: ours.privateKey, peerPublicKey: ours.publicKey, endpoint: '198.51.100.9:1' }),
  );
  assert.equal((await cli('import', clashing)).code, 0);
  assert.equal((await cli('up', 'office')).code, 0);
  const refused = await cli('up', 'clash');
  assert.equal(refused.code, 1);
  assert.match(refused.out, /clash cannot be up with office: its AllowedIPs 192\.0\.2\.0\/24 overlaps/);
  await cli('down');
  await cli('delete', 'clash');
});

test(
  'status --json carries the counters; the opt-in metrics endpoint serves them on loopback',
  { skip },
  async () => {
    await cli('up', 'office');
    try {
      const status = JSON.parse((await cli('--json', 'status')).out) as {
        tunnels: Array<{ counters: { handshakesCompleted: number; dropped: Record<string, number> } }>;
      };
      assert.ok(status.tunnels[0]!.counters.handshakesCompleted >= 1);
      await service.client.call('settings.set', { metricsPort: 9586 });
      const scraped = await execIn(topology.a.ns, process.execPath, [
        '-e',
        "fetch('http://127.0.0.1:9586/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
      ]);
      assert.match(scraped, /^phantommesh_handshakes_total\{tunnel="office"\} [1-9]/m);
      assert.match(scraped, /^phantommesh_tunnel_connected\{tunnel="office"\} 1$/m);
    } finally {
      await service.client.call('settings.set', { metricsPort: null });
      await cli('down');
    }
  },
);

test('diagnostics: sections for a bug report, and no secrets', { skip }, async () => {
  const report = (await cli('diagnostics')).out;
  for (const section of [
    'versions',
    'tunnel office (secrets removed)',
    'ip rule',
    'routes',
    '/etc/resolv.conf',
    'recent log',
  ])
    assert.ok(report.includes(`== ${section} ==`), `has ${section}`);
  assert.ok(!report.includes(ours.privateKey));
});

test('logs shows what the helper did', { skip }, async () => {
  assert.match((await cli('logs')).out, /connecting office/);
});
