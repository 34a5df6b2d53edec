// A WireGuard interface without a wg-quick file, configured only by `wg` and `ip`, the way one
// configures wireguard-go: two of them in one network namespace (see test/lib/run-in-netns.ts)
// complete a handshake over loopback.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WireGuardInterface } from '../../helper/src/tunnel/wireguard-interface.ts';
import { exec, genKeyPair, hasCommand, skipOutsideCi } from '../lib/netns.ts';
import { netnsUnavailable, runScenario, scenarioRequested, serveScenario } from '../lib/run-in-netns.ts';

const name = (): string => `pmi-${randomBytes(3).toString('hex')}`;

const scenarios = {
  async configuredByWgAndIp() {
    const log: string[] = [];
    const [a, b] = await Promise.all(
      [name(), name()].map((n) => WireGuardInterface.open({ name: n, log: (line) => log.push(line) })),
    );
    const keys = await Promise.all([genKeyPair(), genKeyPair()]);
    const dir = await mkdtemp(join(tmpdir(), 'pmi-'));
    try {
      await exec('ip', ['link', 'set', 'lo', 'up']);
      const bare = await exec('wg', ['show', a!.name, 'dump']);
      const pairs = [
        [a!, keys[0]!, b!, keys[1]!, '10.77.0.1'],
        [b!, keys[1]!, a!, keys[0]!, '10.77.0.2'],
      ] as const;
      for (const [self, own, other, theirs, address] of pairs) {
        const keyFile = join(dir, self.name);
        await writeFile(keyFile, own.privateKey, { mode: 0o600 });
        await exec('wg', [
          'set',
          self.name,
          'private-key',
          keyFile,
          'peer',
          theirs.publicKey,
          'endpoint',
          `127.0.0.1:${other.device.listenPort}`,
          'allowed-ips',
          '10.77.0.0/24',
          'persistent-keepalive',
          '1',
        ]);
        await exec('ip', ['address', 'add', `${address}/24`, 'dev', self.name]);
        await exec('ip', ['link', 'set', self.name, 'mtu', '1380', 'up']);
      }
      let handshake = '0';
      for (let i = 0; i < 50 && handshake === '0'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        handshake = (await exec('wg', ['show', a!.name, 'latest-handshakes'])).trim().split(/\s+/)[1] ?? '0';
      }
      const link = await exec('ip', ['-o', 'address', 'show', 'dev', a!.name]);
      const uapi = a!.uapiPath;
      await Promise.all([a!.close(), b!.close()]);
      return {
        bare,
        handshake,
        link,
        afterClose: { uapi: existsSync(uapi), links: await exec('ip', ['-o', 'link', 'show']) },
        names: [a!.name, b!.name],
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const skip = skipOutsideCi(
    netnsUnavailable() ?? (hasCommand('wg') ? undefined : 'needs wg (wireguard-tools)'),
  );

  test(
    'an interface exists without a wg-quick file; `wg` and `ip` configure it and it handshakes',
    { skip },
    async () => {
      const result = await runScenario<Awaited<ReturnType<typeof scenarios.configuredByWgAndIp>>>(
        import.meta.url,
        'configuredByWgAndIp',
      );
      // Before any configuration: no key, no peers, but a random UDP port already bound.
      const [privateKey, , listenPort] = result.bare.trim().split('\t');
      assert.equal(privateKey, '(none)');
      assert.ok(Number(listenPort) > 0, `listen port ${listenPort}`);
      assert.equal(result.bare.trim().split('\n').length, 1, 'no peers');
      assert.ok(Number(result.handshake) > 0, 'a handshake completed');
      assert.match(result.link, /inet 10\.77\.0\.1\/24/);
      assert.equal(result.afterClose.uapi, false, 'the UAPI socket is removed');
      for (const n of result.names) assert.doesNotMatch(result.afterClose.links, new RegExp(n));
    },
  );
}
