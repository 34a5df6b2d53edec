// A tunnel carried through phantommesh-relay by the real helper service: a stock wireguard-go server
// with the relay beside it (rl-s-*), the helper in the client namespace (rl-c-*) whose UDP to the
// server is dropped by nftables, so every answered ping went through the relay. The transport is set
// through the control API as the CLI and the app set it (PEM contents, never paths):
//   tcp:// (2-byte framing), wss:// with mutual TLS, a client certificate from another CA refused
//   with a clear reason while the helper stays healthy, and the kill switch letting out exactly the
//   relay's marked TCP; nginx (ssl_verify_client on) and squid (CONNECT with Basic auth, direct TCP
//   dropped) in the path; a full tunnel whose relay connection, marked, stays outside it; with
//   --fallback, UDP while it answers and the relay within 30 s of UDP being blocked mid-session,
//   with nothing but WireGuard's UDP and the relay's TCP on the link meanwhile.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  execIn,
  hasCommand,
  iperf3Client,
  iperf3Server,
  ping,
  skipOutsideCi,
  spawnIn,
  testSkipReason,
  uniqueName,
  type Spawned,
} from '../lib/netns.ts';
import { captureWhileProbing, leakMessage, leakTestSkipReason, silentProbes } from '../lib/leak-capture.ts';
import { startSquid } from '../lib/proxies.ts';
import { startRelayServerSide, type RelayServerSide, type RelayWorld } from '../lib/relay-world.ts';
import type { TestPki } from '../lib/test-certs.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';
import type { TransportSetting } from '../../shared/src/control/protocol.ts';

const skip = testSkipReason() || skipOutsideCi(!hasCommand('openssl') && 'openssl is not installed');
const RELAY = new URL('../../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;
const SERVER = '198.51.100.2';
const TCP = `tcp://${SERVER}:8080`;
const WSS = `wss://${SERVER}:8443/wg`;
const TUNNEL = uniqueName('rtsv');
const ROUTED_RELAY = '203.0.113.2';

let side: RelayServerSide | undefined;
let world: RelayWorld;
let pki: TestPki;
let relay: Spawned;
let service: Service;
let nginx: Spawned | undefined;
let squid: Spawned | undefined;
const nginxSkip = skip || skipOutsideCi(!hasCommand('nginx') && 'nginx is not installed (scripts/setup.sh)');
const squidSkip = skip || skipOutsideCi(!hasCommand('squid') && 'squid is not installed (scripts/setup.sh)');
const PROXY_USER = 'roamer';
const PROXY_PASSWORD = 'h0tel-wifi';

before(async () => {
  if (skip) return;
  side = await startRelayServerSide('rt-service-', 'rtsw');
  ({ world, pki } = side);
  const { dir, ours, theirs } = side;
  // A relay address reached by the default route rather than on the client's link, for the
  // full-tunnel case (a full tunnel takes over the default route; the LAN's own routes still win).
  await execIn(world.server, 'ip', ['address', 'add', `${ROUTED_RELAY}/32`, 'dev', 'lo']);
  await execIn(world.client, 'ip', ['route', 'add', 'default', 'via', SERVER]);
  relay = spawnIn(world.server, process.execPath, [
    RELAY,
    ...['--listen', TCP, '--listen', WSS, '--listen', 'ws://127.0.0.1:8082/wg'],
    ...['--listen', `tcp://${ROUTED_RELAY}:8090`, '--to', '127.0.0.1:51820'],
    ...['--cert', pki.serverCert, '--key', pki.serverKey, '--client-ca', pki.ca],
  ]);
  await relay.waitForLine(/listening on ws:\/\/127/, 10_000);
  if (!nginxSkip) nginx = await side.startNginx(9443, 'http://127.0.0.1:8082');
  if (!squidSkip)
    squid = await startSquid(world.server, {
      dir,
      address: SERVER,
      user: PROXY_USER,
      password: PROXY_PASSWORD,
      relayPorts: '8080-8443',
    });
  service = await startService(world.client);
  await service.client.call('tunnels.import', {
    name: TUNNEL,
    text: [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      'Address = 192.0.2.1/24',
      // No MTU: over a relay the helper picks 1280 (one WireGuard packet per TCP segment).
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
  await Promise.all([nginx?.stop(), squid?.stop()]);
  await relay?.stop();
  await side?.destroy();
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
      assert.match(await execIn(world.client, 'ip', ['link', 'show', TUNNEL]), /mtu 1280 /, 'the relay MTU');
      const result = await ping(world.client, '192.0.2.2', { count: 4 });
      assert.ok(result.received >= 3, result.output);
      const iperf = await iperf3Server(world.server);
      try {
        const bits = await iperf3Client(world.client, '192.0.2.2', { seconds: 1 });
        assert.ok(bits > 1e6, `iperf3 through the relay: ${bits} bit/s`);
      } finally {
        await iperf.stop();
      }
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

    await t.test(
      'wss:// through nginx terminating TLS with ssl_verify_client on',
      { skip: nginxSkip },
      async () => {
        const url = `wss://${SERVER}:9443/wg`;
        const ca = await pem(pki.ca);
        await connectOver({
          kind: 'relay',
          url,
          clientCert: await pem(pki.clientCert),
          clientKey: await pem(pki.clientKey),
          ca,
        });
        const result = await ping(world.client, '192.0.2.2', { count: 3 });
        assert.ok(result.received >= 2, result.output);
        await connectOver(
          {
            kind: 'relay',
            url,
            clientCert: await pem(pki.rogueCert),
            clientKey: await pem(pki.rogueKey),
            ca,
          },
          false,
        );
        const refused = await service.waitForStatus(
          TUNNEL,
          (s) => s.transport?.reason !== undefined && !/connecting/.test(s.transport.reason),
          15_000,
        );
        assert.notEqual(refused.state, 'connected');
        assert.match(refused.transport?.reason ?? '', /relay waiting: .+/, 'says why');
      },
    );

    await t.test(
      'wss:// through squid (HTTP CONNECT, Basic auth), direct TCP to the relay dropped',
      { skip: squidSkip },
      async () => {
        await execIn(world.client, 'nft', [
          'add table inet rt_direct; ' +
            'add chain inet rt_direct out { type filter hook output priority 0; policy accept; }; ' +
            `add rule inet rt_direct out ip daddr ${SERVER} tcp dport { 8080, 8082, 8443, 9443 } counter drop`,
        ]);
        try {
          const certs = {
            clientCert: await pem(pki.clientCert),
            clientKey: await pem(pki.clientKey),
            ca: await pem(pki.ca),
          };
          await connectOver({
            kind: 'relay',
            url: WSS,
            proxy: `http://${PROXY_USER}:${PROXY_PASSWORD}@${SERVER}:3129`,
            ...certs,
          });
          const result = await ping(world.client, '192.0.2.2', { count: 3 });
          assert.ok(result.received >= 2, result.output);
          const shown = await service.client.call('tunnels.transport.get', { name: TUNNEL });
          assert.ok(
            shown.kind === 'relay' && shown.proxy === `http://***@${SERVER}:3129`,
            JSON.stringify(shown),
          );
          // A wrong password: squid answers 407 and the helper says so.
          await connectOver(
            { kind: 'relay', url: WSS, proxy: `http://${PROXY_USER}:wrong@${SERVER}:3129`, ...certs },
            false,
          );
          const refused = await service.waitForStatus(
            TUNNEL,
            (s) => /407/.test(s.transport?.reason ?? ''),
            15_000,
          );
          assert.notEqual(refused.state, 'connected');
          const logs = await service.client.call('logs.tail', { lines: 200 });
          assert.ok(!JSON.stringify(logs).includes(PROXY_PASSWORD), 'the proxy password is never logged');
        } finally {
          await execIn(world.client, 'nft', ['delete table inet rt_direct']);
        }
      },
    );

    await t.test(
      'a full tunnel (0.0.0.0/0) over tcp://: the marked relay connection stays outside it',
      async () => {
        await service.client.call('tunnels.disconnect', {});
        const full = `${TUNNEL}f`;
        const exported = await service.client.call('tunnels.export', {
          name: TUNNEL,
          includePrivateKey: true,
        });
        await service.client.call('tunnels.import', {
          name: full,
          text: exported.text.replace(/AllowedIPs = .*/, 'AllowedIPs = 0.0.0.0/0'),
        });
        try {
          await service.client.call('tunnels.transport.set', {
            name: full,
            transport: { kind: 'relay', url: `tcp://${ROUTED_RELAY}:8090` },
          });
          await service.client.call('tunnels.connect', { name: full });
          await service.waitForStatus(full, (s) => s.state === 'connected', 20_000);
          const result = await ping(world.client, '192.0.2.2', { count: 3 });
          assert.ok(result.received >= 2, result.output);
          // The relay's address is routed into the tunnel, except for the helper's marked
          // connection, which goes by the gateway: no loop.
          const route = await execIn(world.client, 'ip', ['route', 'get', ROUTED_RELAY]);
          assert.match(route, new RegExp(`dev ${full}`), route);
          const marked = await execIn(world.client, 'ip', ['route', 'get', ROUTED_RELAY, 'mark', '51820']);
          assert.match(marked, /via 198\.51\.100\.2 dev rlv-c/, marked);
          const sockets = await execIn(world.client, 'ss', ['-Htne', 'dst', `${ROUTED_RELAY}:8090`]);
          assert.match(sockets, /fwmark:0xca6c/, sockets);
        } finally {
          await service.client.call('tunnels.disconnect', {});
          await service.client.call('tunnels.delete', { name: full });
        }
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
            await service
              .waitForStatus(TUNNEL, (s) => s.transport?.kind === 'relay', 30_000)
              .catch(async (error) => {
                const logs = await service.client.call('logs.tail', { lines: 60 });
                const lines = logs.map((l) => `${new Date(l.time).toISOString()} ${l.source}: ${l.message}`);
                throw new Error(`${(error as Error).message}\nhelper:\n${lines.join('\n')}`, {
                  cause: error,
                });
              });
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
