// PhantomMesh as a drop-in for wireguard-go: `phantommesh-helper INTERFACE` started the way
// wireguard-go is, then driven only by the stock `wg`, `ip` and `wg-quick`, against Debian's
// wireguard-go in the other namespace of the lab (scripts/lab/netns.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  ping,
  startWireguardGo,
  testSkipReason,
  uniqueName,
  wgShow,
  type KeyPair,
  type Topology,
  type WireguardGo,
} from '../lib/netns.ts';
import { daemonsOf, socketOf, until } from '../lib/dropin-world.ts';

const HELPER = new URL('../../helper/src/cli/phantommesh-helper.ts', import.meta.url).pathname;
const skip = testSkipReason();
const PEER_PORT = 51820;

let topology: Topology;
let dir: string;
let ours: KeyPair;
let theirs: KeyPair;
let peer: WireguardGo;
/** The interfaces this file creates in namespace a, deleted in after() if a test left them. */
const created: string[] = [];

/** A key or a configuration for `wg`, in a 0600 file of this run's root-only directory. */
async function wgFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/**
 * This run's environment without LOG_LEVEL: with it, the daemon keeps its caller's stdout and
 * stderr, as wireguard-go does, and a caller that waits for their end (execFile, $(...)) waits for
 * the daemon's.
 */
const quiet: NodeJS.ProcessEnv = { ...process.env };
delete quiet.LOG_LEVEL;

const a = (cmd: string, args: string[]): Promise<string> => execIn(topology.a.ns, cmd, args, { env: quiet });

before(async () => {
  if (skip) return;
  topology = await createTopology();
  dir = await mkdtemp(join(tmpdir(), 'pm-dropin-'));
  await chmod(dir, 0o700);
  [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  peer = await startWireguardGo(topology.b.ns, uniqueName('pmgo'), {
    privateKey: theirs.privateKey,
    listenPort: PEER_PORT,
    addresses: ['192.0.2.2/24', 'fd00:77::2/64'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32', 'fd00:77::1/128'] }],
  });
});

after(async () => {
  if (skip) return;
  for (const name of created) {
    await a('ip', ['link', 'del', name]).catch(() => {});
    await until(`${name}'s daemon exits`, () => daemonsOf(name).length === 0).catch(() => {
      for (const pid of daemonsOf(name)) process.kill(pid, 'SIGKILL');
    });
    await rm(socketOf(name), { force: true });
  }
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
});

test('driven by wg and ip like wireguard-go, against wireguard-go', { skip }, async (t) => {
  const name = uniqueName('pmd');
  created.push(name);

  await t.test('INTERFACE goes to the background, exit 0, once the socket exists', async () => {
    await a(process.execPath, [HELPER, name]);
    // Checked at once: the parent returned only after its child had the interface and the socket.
    assert.ok(existsSync(socketOf(name)), 'the UAPI socket exists when the command returns');
    assert.match(await a('ip', ['link', 'show', name]), new RegExp(`${name}:`));
    assert.equal(daemonsOf(name).length, 1, 'one daemon, detached');
    const dump = await wgShow(topology.a.ns, name, 'dump');
    assert.equal(dump.privateKey, '(none)');
    assert.equal(dump.peers.length, 0);
  });

  await t.test('a second start of the same interface fails with the reason', async () => {
    const error = await a(process.execPath, [HELPER, name]).then(
      () => assert.fail('should have failed'),
      (e: Error) => e.message,
    );
    assert.match(error, /exit 1/);
    assert.match(error, /did not start: .*(already exists|already served)/);
    // The failed start's child reports its reason before it exits: on a loaded machine it can still
    // be there for a moment when the command returns.
    await until('the failed second start exits, the first daemon stays', () => daemonsOf(name).length === 1);
  });

  await t.test('wg set and ip configure it; pings both ways over IPv4 and IPv6', async () => {
    const key = await wgFile('private', ours.privateKey);
    await a('wg', [
      'set',
      name,
      'private-key',
      key,
      'peer',
      theirs.publicKey,
      'endpoint',
      `${topology.b.ipv4}:${PEER_PORT}`,
      'allowed-ips',
      '192.0.2.2/32,fd00:77::2/128',
    ]);
    await a('ip', ['address', 'add', '192.0.2.1/24', 'dev', name]);
    await a('ip', ['address', 'add', 'fd00:77::1/64', 'dev', name, 'nodad']);
    await a('ip', ['link', 'set', name, 'mtu', '1420', 'up']);
    await ping(topology.a.ns, '192.0.2.2');
    await ping(topology.a.ns, 'fd00:77::2');
    await ping(topology.b.ns, '192.0.2.1');
    await ping(topology.b.ns, 'fd00:77::1');
  });

  await t.test('wg set listen-port rebinds: the peer reaches the new port', async () => {
    const before = Number((await a('wg', ['show', name, 'listen-port'])).trim());
    const port = 51999;
    await a('wg', ['set', name, 'listen-port', String(port)]);
    assert.equal(Number((await a('wg', ['show', name, 'listen-port'])).trim()), port);
    const sockets = await a('ss', ['-Huln']);
    assert.match(sockets, new RegExp(`:${port}\\b`));
    assert.doesNotMatch(sockets, new RegExp(`:${before}\\b`), 'the old port is closed');
    await execIn(topology.b.ns, 'wg', [
      'set',
      peer.ifname,
      'peer',
      ours.publicKey,
      'endpoint',
      `${topology.a.ipv4}:${port}`,
    ]);
    await ping(topology.b.ns, '192.0.2.1');
    await ping(topology.b.ns, 'fd00:77::1');
    const endpoints = await wgShow(topology.b.ns, peer.ifname, 'endpoints');
    assert.equal(endpoints.get(ours.publicKey), `${topology.a.ipv4}:${port}`);
  });

  await t.test('wg showconf fed to wg setconf round-trips', async () => {
    const shown = await a('wg', ['showconf', name]);
    assert.match(shown, /ListenPort = 51999/);
    assert.match(shown, new RegExp(`PublicKey = ${theirs.publicKey.replace(/[+/]/g, '\\$&')}`));
    await a('wg', ['setconf', name, await wgFile('showconf.conf', shown)]);
    assert.equal(await a('wg', ['showconf', name]), shown);
    await ping(topology.a.ns, '192.0.2.2');
  });

  await t.test('wg set peer X remove stops that peer', async () => {
    const other = await genKeyPair();
    await a('wg', ['set', name, 'peer', other.publicKey, 'allowed-ips', '192.0.2.3/32']);
    assert.equal((await wgShow(topology.a.ns, name, 'dump')).peers.length, 2);
    await a('wg', ['set', name, 'peer', other.publicKey, 'remove']);
    await a('wg', ['set', name, 'peer', theirs.publicKey, 'remove']);
    assert.equal((await wgShow(topology.a.ns, name, 'dump')).peers.length, 0);
    await assert.rejects(ping(topology.a.ns, '192.0.2.2', { count: 2 }), 'no peer, no traffic');
  });

  await t.test('wg show of an interface that does not exist fails', async () => {
    const nosuch = uniqueName('nosuch');
    await assert.rejects(a('wg', ['show', nosuch]), /No such device|Unable to access interface/);
  });

  await t.test('ip link del: the process exits and removes its socket', async () => {
    assert.equal(daemonsOf(name).length, 1);
    await a('ip', ['link', 'del', name]);
    await until('the daemon exits', () => daemonsOf(name).length === 0);
    assert.ok(!existsSync(socketOf(name)), 'the socket is removed');
    await assert.rejects(a('wg', ['show', name]));
  });
});

test('wg-quick up and down with WG_QUICK_USERSPACE_IMPLEMENTATION=phantommesh-helper', { skip }, async () => {
  const name = uniqueName('pmq');
  created.push(name);
  // What /usr/bin/phantommesh-helper is in the package: a script that execs Node on the helper.
  const wrapper = join(dir, 'phantommesh-helper');
  await writeFile(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${HELPER}' "$@"\n`, { mode: 0o755 });
  // A split tunnel: only the peer's inner addresses go through it.
  const config = await wgFile(
    `${name}.conf`,
    [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      'Address = 192.0.2.1/32, fd00:77::1/128',
      '',
      '[Peer]',
      `PublicKey = ${theirs.publicKey}`,
      `Endpoint = ${topology.b.ipv4}:${PEER_PORT}`,
      'AllowedIPs = 192.0.2.2/32, fd00:77::2/128',
      '',
    ].join('\n'),
  );
  const env = { ...quiet, WG_QUICK_USERSPACE_IMPLEMENTATION: wrapper };
  await execIn(topology.a.ns, 'wg-quick', ['up', config], { env });
  assert.ok(existsSync(socketOf(name)));
  assert.equal(daemonsOf(name).length, 1);
  assert.equal((await wgShow(topology.a.ns, name, 'dump')).peers[0]?.publicKey, theirs.publicKey);
  assert.match(await a('ip', ['route', 'show', 'dev', name]), /192\.0\.2\.2/);
  await ping(topology.a.ns, '192.0.2.2');
  await ping(topology.a.ns, 'fd00:77::2');
  await ping(topology.b.ns, '192.0.2.1');
  await ping(topology.b.ns, 'fd00:77::1');

  await execIn(topology.a.ns, 'wg-quick', ['down', config], { env });
  await until('the daemon exits', () => daemonsOf(name).length === 0);
  assert.ok(!existsSync(socketOf(name)), 'the socket is removed');
  await assert.rejects(a('ip', ['link', 'show', name]), 'the interface is gone');
});

test(
  'moved to another namespace (ip link set netns), it keeps working; deleted there, it exits',
  { skip, timeout: 60_000 },
  async () => {
    // How WireGuard runs in containers and in the reference test suites: the process and its UDP
    // socket stay where they were started (a, which reaches the peer), the interface moves.
    const name = uniqueName('pmmv');
    created.push(name);
    const inside = uniqueName('pmns');
    await execIn(topology.a.ns, process.execPath, [HELPER, name], { env: quiet });
    await a('wg', [
      'set',
      name,
      'private-key',
      await wgFile('private-moved', ours.privateKey),
      'peer',
      theirs.publicKey,
      'endpoint',
      `${topology.b.ipv4}:${PEER_PORT}`,
      'allowed-ips',
      '192.0.2.2/32',
    ]);
    await exec('ip', ['netns', 'add', inside]);
    try {
      await a('ip', ['link', 'set', name, 'netns', inside]);
      await execIn(inside, 'ip', ['address', 'add', '192.0.2.1/24', 'dev', name]);
      await execIn(inside, 'ip', ['link', 'set', name, 'up']);
      assert.ok((await ping(inside, '192.0.2.2', { count: 3 })).received > 0, 'through the moved interface');
      // wg finds it by its socket, which stays where it was made (/var/run/wireguard is machine-wide).
      assert.match(await execIn(inside, 'wg', ['show', name, 'latest-handshakes']), /\t[1-9]\d*$/m);

      await execIn(inside, 'ip', ['link', 'del', name]);
      await until('the daemon exits', () => daemonsOf(name).length === 0);
      assert.ok(!existsSync(socketOf(name)), 'the socket is removed');
    } finally {
      await exec('ip', ['netns', 'del', inside]).catch(() => {});
    }
  },
);
