// The helper service end to end, in three namespaces: the client (A) running the real helper, a
// wireguard-go server (B), and an "internet" host (C) behind the server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
// Unique per run: UAPI sockets in /var/run/wireguard are shared by every namespace on the machine.
const TUNNEL = uniqueName('pmfull');

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
  'kill switch: with the server stopped nothing reaches C directly; off, the full tunnel still holds it until disconnect',
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
      // A full tunnel that is up keeps traffic in it even without the kill switch (TunnelVision).
      assert.equal(await directPingsReachC(world), 0, 'kill switch off, full tunnel still up: blocked');
      await client.call('tunnels.disconnect', { name: TUNNEL });
      assert.ok((await directPingsReachC(world)) > 0, 'disconnected: direct traffic flows');
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

test(
  'SIGTERM with the kill switch off takes the tunnels down and leaves nothing behind',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      await world.service.client.call('tunnels.connect', { name: TUNNEL });
      await world.service.kill('SIGTERM');
      assert.equal(world.service.process.child.exitCode, 0, 'a clean exit');
      assert.match(world.service.process.output(), /stopping \(SIGTERM\)/);
      assert.equal(await networkSnapshot(world.service), before);
      await world.service.restart();
    }),
);

test(
  'SIGTERM with the kill switch on and connected: the table stays while no helper runs; the restart takes it over and reconnects',
  { skip, timeout: 90_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      await world.service.client.call('settings.set', { killSwitch: true });
      await world.service.client.call('tunnels.connect', { name: TUNNEL });
      await world.service.kill('SIGTERM');
      assert.equal(world.service.process.child.exitCode, 0, 'a clean exit');
      assert.match(await execIn(world.topology.a.ns, 'nft', ['list', 'tables']), /inet phantommesh/);
      assert.equal(await directPingsReachC(world), 0, 'blocked while the helper is gone');
      const journal = JSON.parse(
        await readFile(`${world.service.dir}/state/network-journal.json`, 'utf8'),
      ) as {
        changes: Array<{ kind: string }>;
      };
      assert.deepEqual(
        journal.changes.map((change) => change.kind),
        ['kill-switch'],
        'only the kill switch is left, in the journal',
      );
      await world.service.restart();
      await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 30_000);
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      const status = await world.service.client.call('status', {});
      assert.match(status.blocking?.reason ?? '', /^kill switch: /);
      await world.service.client.call('tunnels.disconnect', {});
      assert.equal((await world.service.client.call('status', {})).blocking, null);
      await world.service.client.call('settings.set', { killSwitch: false });
      assert.equal(await networkSnapshot(world.service), before, 'the disconnect gives everything back');
    }),
);

/** Runs `body` while polling `nft list tables` in A; returns the polls that lacked our table. */
async function tableGapsDuring(
  world: World,
  body: () => Promise<void>,
): Promise<{ polls: number; gaps: number }> {
  let done = false;
  let polls = 0;
  let gaps = 0;
  const poller = (async () => {
    while (!done) {
      const tables = await execIn(world.topology.a.ns, 'nft', ['list', 'tables']);
      polls++;
      if (!/inet phantommesh/.test(tables)) gaps++;
    }
  })();
  try {
    await body();
  } finally {
    done = true;
    await poller;
  }
  return { polls, gaps };
}

test(
  'kill switch: editing the active tunnel keeps the table the whole time; an unresolvable endpoint fails and keeps the old tunnel',
  { skip, timeout: 90_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await client.call('settings.set', { killSwitch: true });
      await client.call('tunnels.connect', { name: TUNNEL });
      await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 15_000);
      const { text } = await client.call('tunnels.export', { name: TUNNEL });
      const edited = text.replace('DNS = 192.0.2.53', 'DNS = 192.0.2.54');
      const edit = await tableGapsDuring(world, async () => {
        await client.call('tunnels.update', { name: TUNNEL, text: edited });
        await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 15_000);
      });
      assert.ok(edit.polls > 0);
      assert.equal(
        edit.gaps,
        0,
        `the table was missing in ${edit.gaps} of ${edit.polls} polls during the edit`,
      );
      assert.equal(await directPingsReachC(world), 0, 'still blocked after the edit');

      const unresolvable = edited.replace(/^Endpoint = .*$/m, 'Endpoint = nowhere.invalid:51820');
      const bad = await tableGapsDuring(world, async () => {
        await assert.rejects(
          client.call('tunnels.update', { name: TUNNEL, text: unresolvable }),
          (error: Error) => {
            assert.match(error.message, /cannot resolve endpoint nowhere\.invalid/);
            return true;
          },
        );
      });
      assert.equal(bad.gaps, 0, 'the table stayed during the failed edit');
      assert.equal((await client.call('tunnels.get', { name: TUNNEL })).status.state, 'connected');
      assert.match((await client.call('tunnels.export', { name: TUNNEL })).text, /DNS = 192\.0\.2\.54/);
      await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
      await client.call('tunnels.disconnect', {});
    }),
);

test(
  'kill switch: a table another tool removes (nft flush ruleset) is restored within 2 s, with an event',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await client.call('settings.set', { killSwitch: true });
      await client.call('tunnels.connect', { name: TUNNEL });
      await client.call('events.subscribe', {});
      const restored = new Promise<string>((resolve) => {
        const stop = client.onEvent((event) => {
          if (event.type === 'firewall-restored') {
            stop();
            resolve(event.reason);
          }
        });
      });
      await execIn(world.topology.a.ns, 'nft', ['flush', 'ruleset']);
      const flushedAt = Date.now();
      let back = false;
      while (!back && Date.now() - flushedAt < 2000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        back = /inet phantommesh/.test(await execIn(world.topology.a.ns, 'nft', ['list', 'tables']));
      }
      assert.ok(back, 'the table is back within 2 s');
      assert.match(await restored, /removed the kill switch/);
      assert.equal(await directPingsReachC(world), 0, 'blocked again');
      const lines = await client.call('logs.tail', { lines: 50 });
      assert.ok(lines.some((line) => /PhantomMesh restored it/.test(line.message)));
      await client.call('tunnels.disconnect', {});
    }),
);

test(
  'lockdown: blocks with no tunnel and writes the boot file; off lifts it and removes the file',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      const file = `${world.service.dir}/state/lockdown.nft`;
      const before = await networkSnapshot(world.service);
      await client.call('settings.set', { lockdown: true });
      assert.match(await execIn(world.topology.a.ns, 'nft', ['list', 'tables']), /inet phantommesh/);
      assert.equal(await directPingsReachC(world), 0, 'blocked with no tunnel wanted');
      assert.deepEqual((await client.call('status', {})).blocking, { reason: 'lockdown: no tunnel up' });
      assert.equal((await stat(file)).mode & 0o777, 0o600, 'root only');
      assert.match(await readFile(file, 'utf8'), /table inet phantommesh/);
      // What the boot unit does: the file loads on its own.
      await execIn(world.topology.a.ns, 'nft', ['-c', '-f', file]);
      await client.call('settings.set', { lockdown: false });
      await assert.rejects(stat(file), /ENOENT/);
      assert.equal((await client.call('status', {})).blocking, null);
      assert.equal(await networkSnapshot(world.service), before);
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

test('serve refuses a state directory others could write, or not owned by root', { skip }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'pm-state-'));
  try {
    const open = join(base, 'open');
    await mkdir(open, { mode: 0o700 });
    await chmod(open, 0o777);
    const owned = join(base, 'owned');
    await mkdir(owned, { mode: 0o700 });
    await chown(owned, 65534, 65534);
    for (const [dir, why] of [
      [open, /its group or others may write it \(mode 0777\)/],
      [owned, /owned by uid 65534, not root/],
    ] as const) {
      const error = await exec(process.execPath, [
        RUNNER,
        'serve',
        '--socket',
        join(base, 'helper.sock'),
        '--state-dir',
        dir,
      ]).then(
        () => assert.fail('serve should fail'),
        (e: Error) => e.message,
      );
      assert.match(error, /exit 1/);
      assert.match(error, why);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

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
