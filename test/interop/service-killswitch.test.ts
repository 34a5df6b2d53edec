// The kill switch in the real service, in the three-namespace world of test/lib/service-world.ts:
// it follows the user's intent through server loss, crashes, SIGTERM, edits, another program's
// `nft flush ruleset`, and lockdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { execIn, ping } from '../lib/netns.ts';
import { networkSnapshot } from '../../scripts/lab/service.ts';

import {
  connectWithKillSwitch,
  directPingsReachC,
  nftTablesInA,
  skip,
  tableGapsDuring,
  TUNNEL,
  withWorld,
} from '../lib/service-world.ts';

test(
  'kill switch: with the server stopped nothing reaches C directly; off, the full tunnel still holds it until disconnect',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      assert.ok((await directPingsReachC(world)) > 0, 'direct path works before');
      await connectWithKillSwitch(world);
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
  'kill -9 with the kill switch on: still blocked after the restart, until disconnect',
  { skip, timeout: 60_000 },
  () =>
    withWorld(async (world) => {
      await connectWithKillSwitch(world);
      await world.service.kill('SIGKILL');
      await world.service.restart();
      assert.equal(await directPingsReachC(world), 0, 'fail closed after the crash');
      assert.match(await nftTablesInA(world), /phantommesh/);
      await world.service.client.call('tunnels.disconnect', {});
      await world.service.client.call('settings.set', { killSwitch: false });
      assert.ok((await directPingsReachC(world)) > 0, 'open again once the user disconnects');
    }),
);

test(
  'SIGTERM with the kill switch on and connected: the table stays while no helper runs; the restart takes it over and reconnects',
  { skip, timeout: 90_000 },
  () =>
    withWorld(async (world) => {
      const before = await networkSnapshot(world.service);
      await connectWithKillSwitch(world);
      await world.service.kill('SIGTERM');
      assert.equal(world.service.process.child.exitCode, 0, 'a clean exit');
      assert.match(await nftTablesInA(world), /inet phantommesh/);
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

test(
  'kill switch: editing the active tunnel keeps the table the whole time; an unresolvable endpoint fails and keeps the old tunnel',
  { skip, timeout: 90_000 },
  () =>
    withWorld(async (world) => {
      const { client } = world.service;
      await connectWithKillSwitch(world);
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
      await connectWithKillSwitch(world);
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
        back = /inet phantommesh/.test(await nftTablesInA(world));
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
      assert.match(await nftTablesInA(world), /inet phantommesh/);
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
