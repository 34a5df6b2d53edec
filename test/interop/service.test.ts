// The helper service end to end, in the three-namespace world of test/lib/service-world.ts: full
// tunnels, crashes and restarts, reconnects, the state directory. The kill switch's own behaviour
// is in service-killswitch.test.ts (two files, so the suite runs them side by side).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, ping, spawnIn } from '../lib/netns.ts';
import { networkSnapshot, ORIGINAL_RESOLV_CONF } from '../../scripts/lab/service.ts';
import { RUNNER } from '../../scripts/lab/tunnel-pair.ts';

import { skip, sourceSeenByC, startServer, TUNNEL, withWorld } from '../lib/service-world.ts';

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

test(
  'SIGTERM while start-up is still bringing a tunnel back: it waits for it, leaves nothing, and the tunnel comes back next time',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      await world.service.client.call('tunnels.connect', { name: TUNNEL });
      await world.service.kill('SIGTERM');
      // READY comes before the tunnels the user had up are back (they come up in the background):
      // a stop right after READY meets a tunnel half up (its full-tunnel rules not yet journaled).
      await world.service.restart();
      await world.service.kill('SIGTERM');
      assert.equal(world.service.process.child.exitCode, 0, 'a clean exit');
      assert.equal(await networkSnapshot(world.service), before, 'nothing left behind');
      await world.service.restart();
      await world.service.waitForStatus(TUNNEL, (s) => s.state === 'connected', 15_000);
      assert.match(world.service.process.output(), new RegExp(`bringing ${TUNNEL} back up`), 'still wanted');
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
