// phantommesh-relay in front of a stock WireGuard server (wireguard-go, configured with wg), reached
// by a second stock wireguard-go whose Endpoint is a local UDP port of test/lib/relay-client.ts (an
// independent implementation of the client side's wire formats). The client's UDP to the server
// is dropped by nftables, so every ping below went through the relay:
//   tcp://  (2-byte framing), ws://, wss:// with mutual TLS (the relay's own TLS), and wss:// through
//   Debian's nginx terminating TLS (ssl_verify_client on) in front of the relay's ws://.
// A client without a certificate, or with one from another CA, gets no WebSocket from either.
// Namespaces rl-s-* (server, relay, nginx) and rl-c-* (client): test/lib/relay-world.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  execIn,
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
import { startRelayServerSide, type RelayServerSide, type RelayWorld } from '../lib/relay-world.ts';
import type { TestPki } from '../lib/test-certs.ts';

const RELAY = new URL('../../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;
const CLIENT = new URL('../lib/relay-client.ts', import.meta.url).pathname;
const skip = testSkipReason() || skipOutsideCi(!hasCommand('openssl') && 'openssl is not installed');
const nginxSkip = skip || skipOutsideCi(!hasCommand('nginx') && 'nginx is not installed (scripts/setup.sh)');

const SERVER = '198.51.100.2';
const URLS = {
  tcp: `tcp://${SERVER}:8080`,
  ws: `ws://${SERVER}:8081/wg`,
  wss: `wss://${SERVER}:8443/wg`,
  nginx: `wss://${SERVER}:9443/wg`,
};

let side: RelayServerSide | undefined;
let world: RelayWorld;
let pki: TestPki;
let client: WireguardGo;
let serverPublic: string;
let relay: Spawned;
let nginx: Spawned | undefined;

before(async () => {
  if (skip) return;
  side = await startRelayServerSide('rl-relay-', 'rls');
  ({ world, pki } = side);
  const { ours, theirs } = side;
  serverPublic = theirs.publicKey;
  client = await startWireguardGo(world.client, uniqueName('rlc'), {
    privateKey: ours.privateKey,
    addresses: ['192.0.2.1/24'],
    // Inside a TCP stream: one WireGuard packet per segment where possible. Not a multiple of 16: a
    // full-size packet is then not padded to 16 (the relay must not expect it to be).
    mtu: 1300,
    peers: [{ publicKey: theirs.publicKey, allowedIps: ['192.0.2.2/32'] }],
  });
  relay = spawnIn(world.server, process.execPath, [
    RELAY,
    ...['--listen', URLS.tcp, '--listen', URLS.ws, '--listen', URLS.wss],
    ...['--listen', 'ws://127.0.0.1:8082/wg'],
    ...['--to', '127.0.0.1:51820', '--cert', pki.serverCert, '--key', pki.serverKey],
    ...['--client-ca', pki.ca, '--metrics', '127.0.0.1:9100'],
  ]);
  await relay.waitForLine(/metrics on/, 10_000);
  if (!nginxSkip) nginx = await side.startNginx(9443, 'http://127.0.0.1:8082');
});

after(async () => {
  if (skip) return;
  await nginx?.stop();
  await relay?.stop();
  if (process.env.RL_DEBUG) console.log(relay?.output());
  await client?.stop();
  await side?.destroy();
});

let nextPort = 40001;

/** A relay client in the client namespace to `url`, set as the WireGuard peer's endpoint; pings. */
async function pingThrough(url: string, certs: string[]): Promise<Spawned> {
  const port = nextPort++;
  const forwarder = spawnIn(world.client, process.execPath, [
    CLIENT,
    ...['--udp', `127.0.0.1:${port}`, '--url', url],
    ...certs,
  ]);
  await forwarder.waitForLine(/relay-client listening/, 5000);
  await execIn(world.client, 'wg', [
    'set',
    client.ifname,
    'peer',
    serverPublic,
    'endpoint',
    `127.0.0.1:${port}`,
  ]);
  try {
    const result = await ping(world.client, '192.0.2.2', { count: 4 });
    assert.ok(result.received >= 2, `pings answered over ${url}:\n${result.output}`);
    // A packet of exactly the MTU (1300), unfragmented.
    const full = await ping(world.client, '192.0.2.2', { count: 2, size: 1300 - 28, df: true });
    assert.ok(full.received >= 1, `full-size pings answered over ${url}:\n${full.output}`);
    assert.match(forwarder.output(), /relay-client connected/);
    return forwarder;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nrelay:\n${relay.output()}\nclient:\n${forwarder.output()}`,
      {
        cause: error,
      },
    );
  }
}

const withCa = (): string[] => ['--ca', pki.ca];
const withClientCert = (): string[] => ['--ca', pki.ca, '--cert', pki.clientCert, '--key', pki.clientKey];
const withRogueCert = (): string[] => ['--ca', pki.ca, '--cert', pki.rogueCert, '--key', pki.rogueKey];

/** One connection attempt from the client namespace: 'open' or 'refused: ...'. */
async function probe(url: string, certs: string[]): Promise<string> {
  const said = await execIn(world.client, process.execPath, [
    CLIENT,
    '--probe',
    '--url',
    url,
    ...certs,
  ]).catch((error: Error) => error.message);
  return /probe: (.*)/.exec(said)?.[1] ?? said;
}

test('wireguard-go through phantommesh-relay, UDP blocked', { skip, timeout: 60_000 }, async (t) => {
  await t.test('tcp:// (2-byte framing, an independent implementation on the client side)', async () => {
    await (await pingThrough(URLS.tcp, [])).stop();
  });

  await t.test('ws://', async () => {
    await (await pingThrough(URLS.ws, [])).stop();
  });

  await t.test('wss:// with a client certificate from the CA (the relay terminates TLS)', async () => {
    const forwarder = await pingThrough(URLS.wss, withClientCert());
    await forwarder.stop();
    assert.match(relay.output(), /connect #\d+ wss \S+ cert CN="client"/);
  });

  await t.test('wss:// refuses a client without a certificate or with one from another CA', async () => {
    assert.equal(await probe(URLS.wss, withClientCert()), 'open');
    assert.match(await probe(URLS.wss, withCa()), /^refused/);
    assert.match(await probe(URLS.wss, withRogueCert()), /^refused/);
    assert.match(relay.output(), /refused .*TLS handshake failed/);
  });

  await t.test(
    'wss:// through nginx (ssl_verify_client on) to the relay ws://',
    { skip: nginxSkip },
    async () => {
      await (await pingThrough(URLS.nginx, withClientCert())).stop();
      assert.match(await probe(URLS.nginx, withCa()), /^refused: .*400/);
      assert.match(await probe(URLS.nginx, withRogueCert()), /^refused/);
    },
  );

  await t.test('the relay counted it; SIGUSR1 logs the counters', async () => {
    const scrape = await execIn(world.server, process.execPath, [
      '-e',
      'fetch("http://127.0.0.1:9100/metrics").then(r => r.text()).then(t => process.stdout.write(t))',
    ]);
    const value = (name: string): number => {
      const match = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(scrape);
      assert.ok(match, `${name} in:\n${scrape}`);
      return Number(match[1]);
    };
    assert.ok(value('phantommesh_relay_datagrams_total{direction="up"}') >= 8);
    assert.ok(value('phantommesh_relay_datagrams_total{direction="down"}') >= 8);
    assert.ok(value('phantommesh_relay_bytes_total{direction="up"}') > 8 * 32);
    assert.ok(value('phantommesh_relay_sessions_total') >= 4);
    assert.ok(value('phantommesh_relay_rejected_connections_total{reason="tls"}') >= 2);
    relay.child.kill('SIGUSR1');
    await relay.waitForLine(/metrics: connections \d+ now, \d+ sessions in total/, 5000);
  });
});
