// The helper service end to end, in three namespaces: the client (A) running the real helper, a
// wireguard-go server (B), and an "internet" host (C) behind the server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  testSkipReason,
  ping,
  spawnIn,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Topology,
  type WireguardGo,
} from '../lib/netns.ts';
import {
  networkSnapshot,
  ORIGINAL_RESOLV_CONF,
  startService,
  type Service,
} from '../../scripts/lab/service.ts';
import { RUNNER } from '../../scripts/lab/tunnel-pair.ts';

const skip = testSkipReason();
const SERVER_PORT = 51820;
const TUNNEL = 'pmfull';

interface World {
  topology: Topology & { c: NonNullable<Topology['c']> };
  ours: KeyPair;
  theirs: KeyPair;
  server: WireguardGo;
  service: Service;
}

async function startServer(topology: Topology, ours: KeyPair, theirs: KeyPair): Promise<WireguardGo> {
  return startWireguardGo(topology.b.ns, uniqueName('pms'), {
    privateKey: theirs.privateKey,
    listenPort: SERVER_PORT,
    addresses: ['192.0.2.2/24'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
  });
}

async function withWorld(body: (world: World) => Promise<void>): Promise<void> {
  const topology = (await createTopology({ internet: true })) as World['topology'];
  try {
    const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
    const server = await startServer(topology, ours, theirs);
    const service = await startService(topology.a.ns);
    try {
      await service.client.call('tunnels.import', {
        name: TUNNEL,
        text: [
          '[Interface]',
          `PrivateKey = ${ours.privateKey}`,
          'Address = 192.0.2.1/24',
          'DNS = 192.0.2.53',
          '',
          '[Peer]',
          `PublicKey = ${theirs.publicKey}`,
          'AllowedIPs = 0.0.0.0/0',
          `Endpoint = ${topology.b.ipv4}:${SERVER_PORT}`,
          '',
        ].join('\n'),
      });
      await body({ topology, ours, theirs, server, service });
    } finally {
      await service.destroy();
    }
  } finally {
    await topology.destroy();
  }
}

/** The source address host C sees for a TCP connection from A (read back from C's echo). */
async function sourceSeenByC(world: World): Promise<string> {
  const server = spawnIn(world.topology.c.ns, process.execPath, [
    '-e',
    "require('net').createServer((s) => s.end(s.remoteAddress)).listen(8080, '0.0.0.0', () => console.log('listening'))",
  ]);
  try {
    await server.waitForLine(/listening/, 5000);
    return await execIn(world.topology.a.ns, process.execPath, [
      '-e',
      "const s = require('net').connect(8080, '203.0.113.1'); s.on('data', (d) => process.stdout.write(d)); s.setTimeout(4000, () => process.exit(1));",
    ]);
  } finally {
    await server.stop();
  }
}

/** Pings C bound to A's physical interface: the way a leak would go, around the tunnel's routes. */
async function directPingsReachC(world: World): Promise<number> {
  const { a, c } = world.topology;
  const output = await execIn(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', a.veth, c.ipv4]).catch(
    (error: Error) => error.message,
  );
  return Number(/(\d+) received/.exec(output)?.[1] ?? 0);
}

test(
  'full tunnel: C sees the tunnel address, DNS is applied, and both are restored on disconnect',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      assert.equal(await sourceSeenByC(world), '198.51.100.1', 'before: C sees A directly');
      const status = await world.service.client.call('tunnels.connect', { name: TUNNEL });
      assert.equal(status.name, TUNNEL);
      // The first connection through the tunnel starts the handshake (no PersistentKeepalive here).
      assert.equal(await sourceSeenByC(world), '192.0.2.1', 'through the tunnel: C sees the tunnel address');
      const connected = await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 15_000);
      assert.ok(connected.latestHandshake! > 0);
      assert.match(await readFile(world.service.resolvConfPath, 'utf8'), /nameserver 192\.0\.2\.53/);

      await world.service.client.call('tunnels.disconnect', { name: TUNNEL });
      assert.equal(
        await readFile(world.service.resolvConfPath, 'utf8'),
        ORIGINAL_RESOLV_CONF,
        'DNS restored byte for byte',
      );
      assert.equal(
        await networkSnapshot(world.service),
        before,
        'rules, routes, firewall and sysctls restored',
      );
      assert.equal(await sourceSeenByC(world), '198.51.100.1');
    }),
);

test(
  'kill switch: with the server stopped nothing reaches C directly; off, direct traffic flows again',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      assert.ok((await directPingsReachC(world)) > 0, 'direct path works before');
      await client.call('settings.set', { killSwitch: true });
      await client.call('tunnels.connect', { name: TUNNEL });
      assert.equal(await directPingsReachC(world), 0, 'blocked while connected');
      await world.server.stop();
      assert.equal(await directPingsReachC(world), 0, 'still blocked with the server gone');
      await client.call('settings.set', { killSwitch: false });
      assert.ok((await directPingsReachC(world)) > 0, 'kill switch off: direct traffic flows');
    }),
);

test(
  'kill -9 while connected: a restart leaves no routes, rules, DNS or firewall behind',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      await world.service.client.call('tunnels.connect', { name: TUNNEL });
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      await world.service.kill('SIGKILL');
      assert.notEqual(await networkSnapshot(world.service), before, 'the crash left changes behind');
      await world.service.restart();
      assert.match(world.service.process.output(), /undid \d+ network changes left by a previous run/);
      // The tunnel was wanted up, so the restarted helper brings it back; the user's disconnect then
      // leaves exactly the network there was: the crash's leftovers were undone, not doubled.
      await world.service.waitForStatus(TUNNEL, (s) => s.state !== 'disconnected', 15_000);
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      await world.service.client.call('tunnels.disconnect', { name: TUNNEL });
      assert.equal(await networkSnapshot(world.service), before, 'the restart undid every one');
    }),
);

test(
  'kill -9 with the kill switch on: still blocked after the restart, until disconnect',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await client.call('settings.set', { killSwitch: true });
      await client.call('tunnels.connect', { name: TUNNEL });
      await world.service.kill('SIGKILL');
      await world.service.restart();
      assert.equal(await directPingsReachC(world), 0, 'fail closed after the crash');
      assert.match(await execIn(world.topology.a.ns, 'nft', ['list', 'tables']), /phantommesh/);
      await world.service.client.call('tunnels.disconnect', {});
      await world.service.client.call('settings.set', { killSwitch: false });
      assert.ok((await directPingsReachC(world)) > 0, 'open again once the user disconnects');
    }),
);

// The growing, capped delays are checked on a fake clock (test/unit/connection.test.ts); this checks
// what only the real service shows: the state and reason it reports, and that it comes back.
test(
  'reconnect: server stopped, reconnecting with the reason; server back, connected',
  { skip, timeout: 120_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await client.call('tunnels.connect', { name: TUNNEL });
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      await world.server.stop();
      // Traffic keeps asking for a session, as applications would.
      const traffic = spawnIn(world.topology.a.ns, 'ping', ['-i', '1', '192.0.2.2']);
      try {
        const first = await world.service.waitForStatus(TUNNEL, (s) => s.state === 'reconnecting', 60_000);
        assert.match(first.reason!, /no answer from 198\.51\.100\.2:51820/);
        assert.ok(first.nextRetrySeconds! > 0, 'says when it retries');
        world.server = await startServer(world.topology, world.ours, world.theirs);
        await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 60_000);
      } finally {
        await traffic.stop();
      }
    }),
);

test('SIGTERM takes the tunnels down and gives the network back', { skip, timeout: 60_000 }, () =>
  withWorld(async (world) => {
    const before = await networkSnapshot(world.service);
    await world.service.client.call('settings.set', { killSwitch: true });
    await world.service.client.call('tunnels.connect', { name: TUNNEL });
    await world.service.kill('SIGTERM');
    assert.equal(world.service.process.child.exitCode, 0, 'a clean exit');
    assert.match(world.service.process.output(), /stopping \(SIGTERM\)/);
    assert.equal(await networkSnapshot(world.service), before);
    await world.service.restart();
  }),
);

test(
  'a restart (systemctl restart, an upgrade) brings back the tunnels the user had up, not the others',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await client.call('tunnels.connect', { name: TUNNEL });
      await world.service.kill('SIGTERM');
      await world.service.restart();
      await world.service.waitForStatus(TUNNEL, (s) => s.state !== 'disconnected', 15_000);
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      assert.match(world.service.process.output(), new RegExp(`bringing ${TUNNEL} back up`));

      // The user's disconnect is remembered too: the next start leaves it down.
      await world.service.client.call('tunnels.disconnect', { name: TUNNEL });
      await world.service.kill('SIGTERM');
      await world.service.restart();
      const { tunnels } = await world.service.client.call('status', {});
      assert.deepEqual(tunnels, [], 'nothing came up');
      assert.doesNotMatch(world.service.process.output(), /back up/);
    }),
);

test('serve refuses to run as anyone but root', { skip }, async () => {
  const error = await exec('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    process.execPath,
    RUNNER,
    'serve',
    '--socket',
    '/tmp/pm-nobody.sock',
    '--state-dir',
    '/tmp/pm-nobody-state',
  ]).then(
    () => assert.fail('serve should fail'),
    (e: Error) => e.message,
  );
  assert.match(error, /exit 1/);
  assert.match(error, /must run as root/);
});
