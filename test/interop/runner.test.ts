// The foreground runner's routing options, and its refusals: each one a clear message, a non-zero
// exit, and nothing left behind.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  testSkipReason,
  spawnIn,
  uniqueName,
  type Topology,
} from '../lib/netns.ts';
import { ourConfigText, RUNNER, writeTunnelFile } from '../../scripts/lab/tunnel-pair.ts';

const skip = testSkipReason();
let topology: Topology;
let dir: string;
let goodText: string;

before(async () => {
  if (skip) return;
  topology = await createTopology();
  dir = await mkdtemp(join(tmpdir(), 'pm-runner-'));
  const ours = await genKeyPair();
  const theirs = await genKeyPair();
  goodText = ourConfigText({
    privateKey: ours.privateKey,
    peerPublicKey: theirs.publicKey,
    endpoint: '198.51.100.2:51820',
    listenPort: 51900,
  });
});

after(async () => {
  if (skip) return;
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the runner on `text` in namespace A and returns its stderr; it must fail. */
async function refusal(text: string, wrap: string[] = []): Promise<string> {
  const name = uniqueName('pme');
  const file = await writeTunnelFile(dir, name, text);
  const error = await execIn(topology.a.ns, wrap[0] ?? process.execPath, [
    ...wrap.slice(1),
    ...(wrap.length ? [process.execPath] : []),
    RUNNER,
    'tunnel',
    file,
  ]).then(
    () => assert.fail('the runner should have failed'),
    (e: Error) => e.message,
  );
  assert.match(error, /exit 1/, 'a non-zero exit code');
  await assert.rejects(execIn(topology.a.ns, 'ip', ['link', 'show', name]), 'no interface left behind');
  return error;
}

test('a config error names the file, line and key', { skip }, async () => {
  const error = await refusal(goodText.replace('AllowedIPs = 192.0.2.0/24', 'AllowedIPs = 192.0.2.0/33'));
  assert.match(error, /\.conf: line \d+: AllowedIPs: .*192\.0\.2\.0\/33/);
});

test('script hooks are refused: the helper never runs shell commands as root', { skip }, async () => {
  const error = await refusal(goodText.replace('[Peer]', 'PostUp = touch /tmp/pwned\n\n[Peer]'));
  assert.match(error, /PostUp.*refused/);
});

test('a default route is refused by the foreground runner', { skip }, async () => {
  const error = await refusal(goodText.replace('AllowedIPs = ', 'AllowedIPs = 0.0.0.0/0, '));
  assert.match(error, /0\.0\.0\.0\/0.*full tunnel/);
});

test('not root: refused with a clear message', { skip }, async () => {
  const error = await refusal(goodText, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
  assert.match(error, /must run as root/);
});

test('no /dev/net/tun: refused with a clear message', { skip }, async () => {
  const name = uniqueName('pme');
  const file = await writeTunnelFile(dir, name, goodText);
  const error = await exec('unshare', [
    '--mount',
    '--net',
    'sh',
    '-c',
    'mount -t tmpfs none /dev/net && exec "$@"',
    'sh',
    process.execPath,
    RUNNER,
    'tunnel',
    file,
  ]).then(
    () => assert.fail('the runner should have failed'),
    (e: Error) => e.message,
  );
  assert.match(error, /\/dev\/net\/tun/);
});

test(
  'an interface name that is taken is refused, and the other interface is untouched',
  { skip },
  async () => {
    const name = uniqueName('pme');
    // A persistent TUN: exactly what TUNSETIFF would otherwise silently attach to.
    await execIn(topology.a.ns, 'ip', ['tuntap', 'add', 'dev', name, 'mode', 'tun']);
    const file = await writeTunnelFile(dir, name, goodText);
    const error = await execIn(topology.a.ns, process.execPath, [RUNNER, 'tunnel', file]).then(
      () => assert.fail('the runner should have failed'),
      (e: Error) => e.message,
    );
    assert.match(error, /already exists|taken/);
    assert.match(await execIn(topology.a.ns, 'ip', ['link', 'show', name]), /state/);
  },
);

test('a listen port in use is refused and the half-made interface removed', { skip }, async () => {
  const first = spawnIn(topology.a.ns, process.execPath, [
    RUNNER,
    'tunnel',
    await writeTunnelFile(dir, uniqueName('pme'), goodText),
  ]);
  try {
    await first.waitForLine(/is up/, 10_000);
    const error = await refusal(goodText);
    assert.match(error, /UDP port 51900 is already in use/);
  } finally {
    await first.stop();
  }
});

test('usage errors exit with 2', { skip }, async () => {
  const error = await exec(process.execPath, [RUNNER, 'tunnel']).then(
    () => assert.fail('should fail'),
    (e: Error) => e.message,
  );
  assert.match(error, /exit 2/);
  assert.match(error, /phantommesh-helper tunnel FILE\.conf/);
});

/** Brings a tunnel up from `text` in namespace A, hands its name to `check`, then stops it. */
async function whileUp(text: string, check: (name: string) => Promise<void>): Promise<void> {
  const name = uniqueName('pmr');
  const runner = spawnIn(topology.a.ns, process.execPath, [
    RUNNER,
    'tunnel',
    await writeTunnelFile(dir, name, text),
  ]);
  try {
    await runner.waitForLine(/is up/, 10_000);
    await check(name);
  } finally {
    await runner.stop();
  }
}

test('Table = N puts the AllowedIPs routes in table N instead of main', { skip }, async () => {
  await whileUp(goodText.replace('[Peer]', 'Table = 1234\n\n[Peer]'), async (name) => {
    assert.match(
      await execIn(topology.a.ns, 'ip', ['route', 'show', 'table', '1234']),
      new RegExp(`203\\.0\\.113\\.0/24 dev ${name}`),
    );
    assert.doesNotMatch(await execIn(topology.a.ns, 'ip', ['route', 'show']), /203\.0\.113/);
  });
  assert.doesNotMatch(
    await execIn(topology.a.ns, 'ip', ['route', 'show', 'table', 'all']),
    /203\.0\.113/,
    'removed on exit',
  );
});

test('Table = off adds no routes', { skip }, async () => {
  await whileUp(goodText.replace('[Peer]', 'Table = off\n\n[Peer]'), async () => {
    assert.doesNotMatch(await execIn(topology.a.ns, 'ip', ['route', 'show', 'table', 'all']), /203\.0\.113/);
  });
});
