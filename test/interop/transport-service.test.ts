// A tunnel carried through phantommesh-relay by the real helper service: a stock wireguard-go server
// with the relay beside it (rl-s-*), the helper in the client namespace (rl-c-*) whose UDP to the
// server is dropped by nftables, so every answered ping went through the relay. The transport is set
// through the control API as the CLI and the app set it (PEM contents, never paths):
//   tcp:// (2-byte framing), wss:// with mutual TLS, a client certificate from another CA refused
//   with a clear reason while the helper stays healthy, and the kill switch letting out exactly the
//   relay's marked TCP; with --fallback, UDP while it answers and the relay within 30 s of UDP being
//   blocked mid-session, with nothing but WireGuard's UDP and the relay's TCP on the link meanwhile.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  execIn,
  genKeyPair,
  hasCommand,
  ping,
  skipOutsideCi,
  spawnIn,
  startWireguardGo,
  testSkipReason,
  uniqueName,
  type Spawned,
  type WireguardGo,
} from '../lib/netns.ts';
import { captureWhileProbing, leakMessage, leakTestSkipReason, silentProbes } from '../lib/leak-capture.ts';
import { createRelayWorld, type RelayWorld } from '../lib/relay-world.ts';
import { makeTestPki, type TestPki } from '../lib/test-certs.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';
import type { TransportSetting } from '../../shared/src/control/protocol.ts';

const skip = testSkipReason() || skipOutsideCi(!hasCommand('openssl') && 'openssl is not installed');
const RELAY = new URL('../../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;
const SERVER = '198.51.100.2';
const TCP = `tcp://${SERVER}:8080`;
const WSS = `wss://${SERVER}:8443/wg`;
const TUNNEL = uniqueName('rtsv');

let world: RelayWorld;
let pki: TestPki;
let dir: string;
let server: WireguardGo;
let relay: Spawned;
let service: Service;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'rt-service-'));
  world = await createRelayWorld();
  pki = await makeTestPki(dir, [SERVER]);
  const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  server = await startWireguardGo(world.server, uniqueName('rtsw'), {
    privateKey: theirs.privateKey,
    listenPort: 51820,
    addresses: ['192.0.2.2/24'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
  });
  await world.blockUdp();
  relay = spawnIn(world.server, process.execPath, [
    RELAY,
    ...['--listen', TCP, '--listen', WSS, '--to', '127.0.0.1:51820'],
    ...['--cert', pki.serverCert, '--key', pki.serverKey, '--client-ca', pki.ca],
  ]);
  await relay.waitForLine(/listening on wss/, 10_000);
  service = await startService(world.client);
  await service.client.call('tunnels.import', {
    name: TUNNEL,
    text: [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      'Address = 192.0.2.1/24',
      // Inside a TCP stream: one WireGuard packet per segment where possible.
      'MTU = 1280',
      '',
      '[Peer]',
      `PublicKey = ${theirs.publicKey}`,
      'AllowedIPs = 192.0.2.2/32',
      `Endpoint = ${SERVER}:51820`,
      '',
    ].join('\n'),
  });
});

after(async () => {
  if (skip) return;
  await service?.destroy();
  await relay?.stop();
  await server?.stop();
  await world?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const pem = (file: string) => readFile(file, 'utf8');

/** Sets the transport, connects, and waits for the tunnel to be connected (or not). */
async function connectOver(transport: TransportSetting, expectConnected = true) {
  await service.client.call('tunnels.disconnect', {});
  await service.client.call('tunnels.transport.set', { name: TUNNEL, transport });
  await service.client.call('tunnels.connect', { name: TUNNEL });
  if (!expectConnected) return null;
  try {
    return await service.waitForStatus(TUNNEL, (status) => status.state === 'connected', 20_000);
  } catch (error) {
    const logs = await service.client.call('logs.tail', { lines: 40 });
    throw new Error(
      `${(error as Error).message}\nhelper:\n${logs.map((l) => l.message).join('\n')}\nrelay:\n${relay.output()}`,
      { cause: error },
    );
  }
}

test(
  'the helper carries a tunnel through phantommesh-relay, UDP blocked',
  { skip, timeout: 90_000 },
  async (t) => {
    await t.test('tcp://: connected, pings answered, status says the relay carries it', async () => {
      const status = await connectOver({ kind: 'relay', url: TCP });
      assert.deepEqual(status?.transport, { kind: 'relay', url: TCP });
      const result = await ping(world.client, '192.0.2.2', { count: 4 });
      assert.ok(result.received >= 3, result.output);
      // A packet of exactly the MTU, unfragmented, through the stream.
      const full = await ping(world.client, '192.0.2.2', { count: 2, size: 1280 - 28, df: true });
      assert.ok(full.received >= 1, full.output);
      assert.deepEqual(await service.client.call('tunnels.transport.get', { name: TUNNEL }), {
        kind: 'relay',
        url: TCP,
        fallback: false,
      });
    });

    await t.test('wss:// with a client certificate from the test CA (mutual TLS)', async () => {
      const transport = {
        kind: 'relay',
        url: WSS,
        clientCert: await pem(pki.clientCert),
        clientKey: await pem(pki.clientKey),
        ca: await pem(pki.ca),
      } as const;
      await connectOver(transport);
      const result = await ping(world.client, '192.0.2.2', { count: 3 });
      assert.ok(result.received >= 2, result.output);
      const shown = await service.client.call('tunnels.transport.get', { name: TUNNEL });
      assert.ok(!JSON.stringify(shown).includes('PRIVATE KEY'), 'the client key never leaves the helper');
      assert.equal(shown.kind === 'relay' && typeof shown.clientCertificate, 'string');
    });

    await t.test(
      'a certificate from another CA: not connected, a clear reason, the helper healthy',
      async () => {
        await connectOver(
          {
            kind: 'relay',
            url: WSS,
            clientCert: await pem(pki.rogueCert),
            clientKey: await pem(pki.rogueKey),
            ca: await pem(pki.ca),
          },
          false,
        );
        const status = await service.waitForStatus(
          TUNNEL,
          (s) => s.transport?.reason !== undefined && !/connecting/.test(s.transport.reason),
          15_000,
        );
        assert.notEqual(status.state, 'connected');
        assert.match(
          status.transport?.reason ?? '',
          /relay|TLS|certificate|closed|refused|401|403|reset|hang up/i,
        );
        const answered = await ping(world.client, '192.0.2.2', { count: 2 }).catch(() => null);
        assert.ok(!answered || answered.received === 0, 'no traffic without the right certificate');
        assert.ok((await service.client.call('status', {})).tunnels.length >= 1, 'the helper answers');
      },
    );

    await t.test("kill switch on: the relay's TCP is the one exception, marked", async () => {
      await service.client.call('settings.set', { killSwitch: true });
      try {
        await connectOver({ kind: 'relay', url: TCP });
        const result = await ping(world.client, '192.0.2.2', { count: 3 });
        assert.ok(result.received >= 2, result.output);
        const table = await execIn(world.client, 'nft', ['list', 'table', 'inet', 'phantommesh']);
        assert.match(
          table,
          new RegExp(`meta mark 0x[0-9a-f]+ ip daddr ${SERVER.replace(/\./g, '\\.')} tcp dport 8080 accept`),
        );
        // Another TCP connection to the relay's port from this namespace (unmarked) is blocked.
        const direct = await execIn(world.client, 'bash', [
          '-c',
          `timeout 3 bash -c '</dev/tcp/${SERVER}/8080' && echo open || echo blocked`,
        ]);
        assert.match(direct, /blocked/);
      } finally {
        await service.client.call('tunnels.disconnect', {});
        await service.client.call('settings.set', { killSwitch: false });
      }
    });
  },
);

test(
  'fallback: UDP while it answers; UDP blocked mid-session, the relay within 30 s, nothing leaks',
  { skip: skip || leakTestSkipReason(), timeout: 120_000 },
  async () => {
    await service.client.call('tunnels.disconnect', {});
    await world.unblockUdp();
    await service.client.call('settings.set', { killSwitch: true });
    try {
      const status = await connectOver({ kind: 'relay', url: TCP, fallback: true });
      assert.equal(status?.transport?.kind, 'udp', JSON.stringify(status?.transport));
      const before = await ping(world.client, '192.0.2.2', { count: 3 });
      assert.ok(before.received >= 2, before.output);
      const table = await execIn(world.client, 'nft', ['list', 'table', 'inet', 'phantommesh']);
      assert.match(table, /udp dport 51820 accept/, 'UDP to the server is an exception');
      assert.match(table, /tcp dport 8080 accept/, 'and so is the relay, before any switch');

      let switchedAfter = 0;
      const run = await captureWhileProbing({
        ns: world.client,
        iface: 'rlv-c',
        allowed: { endpoints: [{ address: SERVER, port: 51820 }], relays: [{ address: SERVER, port: 8080 }] },
        probes: [
          { kind: 'icmp', to: SERVER },
          { kind: 'udp', to: SERVER, port: 53 },
          { kind: 'tcp', to: SERVER, port: 80 },
        ],
        during: async () => {
          // Traffic keeps the session busy, so WireGuard notices that nothing comes back.
          const pinger = spawnIn(world.client, 'ping', ['-i', '0.2', '192.0.2.2']);
          const blockedAt = Date.now();
          await world.blockUdp();
          try {
            await service.waitForStatus(TUNNEL, (s) => s.transport?.kind === 'relay', 30_000);
            switchedAfter = Date.now() - blockedAt;
          } finally {
            await pinger.stop();
          }
        },
      });
      assert.ok(
        switchedAfter > 0 && switchedAfter <= 30_000,
        `switched to the relay after ${switchedAfter} ms`,
      );
      const after = await ping(world.client, '192.0.2.2', { count: 5 });
      assert.ok(after.received >= 3, `traffic resumed over the relay:\n${after.output}`);
      assert.deepEqual(silentProbes(run), [], 'every probe sent something');
      assert.deepEqual(run.leaks, [], leakMessage(run, run.leaks));
      assert.ok((run.allowed.relay ?? 0) > 0, 'the relay carried traffic during the capture');
    } finally {
      await service.client.call('tunnels.disconnect', {});
      await service.client.call('settings.set', { killSwitch: false });
      await world.blockUdp();
    }
  },
);
