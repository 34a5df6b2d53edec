// The relay transports' client (helper/src/conn/relay-transport.ts) against the real
// phantommesh-relay, from a namespace of its own (test/lib/relay-transport-driver.ts runs it there):
// the relay forwards to a UDP echo server standing in for WireGuard (the lead's tests carry
// WireGuard end to end), so every "echo" line is a datagram that went client -> relay -> echo ->
// relay -> client.
//   tcp:// over IPv4 and IPv6, ws://, wss:// with mutual TLS; the TCP connection carries SO_MARK
//   (counted by an nft rule matching the mark in the client's namespace);
//   through Debian's squid (HTTP CONNECT, without and with Basic auth), direct TCP to the relay
//   dropped by nftables;
//   the wrong CA, no client certificate, a client certificate from another CA, a wrong proxy
//   password, a server sending garbage: state 'waiting' with the reason, no crash;
//   a connection that dies silently (nft drops it) is noticed (nothing comes back) and made again;
//   the relay killed and started again: the transport connects again by itself.
// Namespaces rt-s-* (relay, echo server, squid) and rt-c-* (client): test/lib/relay-transport-world.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execIn, hasCommand, skipOutsideCi, spawnIn, testSkipReason, type Spawned } from '../lib/netns.ts';
import {
  createRelayTransportWorld,
  SERVER_V4,
  SERVER_V6,
  type RelayTransportWorld,
} from '../lib/relay-transport-world.ts';
import { startSquid } from '../lib/proxies.ts';
import { makeTestPki, type TestPki } from '../lib/test-certs.ts';

const RELAY = new URL('../../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;
const DRIVER = new URL('../lib/relay-transport-driver.ts', import.meta.url).pathname;
const skip = testSkipReason() || skipOutsideCi(!hasCommand('openssl') && 'openssl is not installed');
const squidSkip = skip || skipOutsideCi(!hasCommand('squid') && 'squid is not installed (scripts/setup.sh)');

const URLS = {
  tcp: `tcp://${SERVER_V4}:8080`,
  tcp6: `tcp://[${SERVER_V6}]:8080`,
  ws: `ws://${SERVER_V4}:8081/wg`,
  wss: `wss://${SERVER_V4}:8443/wg`,
  garbage: `tcp://${SERVER_V4}:8099`,
};
const MARK = 0x7274;
const PROXY_USER = 'tunnel';
const PROXY_PASSWORD = 's3cret:with@odd/chars';

let world: RelayTransportWorld;
let pki: TestPki;
let dir: string;
let echo: Spawned;
let relay: Spawned;
let squid: Spawned | undefined;
const drivers: Spawned[] = [];

function startRelay(): Spawned {
  return spawnIn(world.server, process.execPath, [
    RELAY,
    ...['--listen', URLS.tcp, '--listen', URLS.tcp6, '--listen', URLS.ws, '--listen', URLS.wss],
    ...['--to', '127.0.0.1:51820', '--cert', pki.serverCert, '--key', pki.serverKey, '--client-ca', pki.ca],
    ...['--metrics', '127.0.0.1:9100'],
  ]);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'rt-transport-'));
  world = await createRelayTransportWorld();
  pki = await makeTestPki(dir, [SERVER_V4, SERVER_V6], ['relay.test']);
  // Stands in for the WireGuard server: every datagram back to where it came from.
  echo = spawnIn(world.server, process.execPath, [
    '-e',
    `const s = require('node:dgram').createSocket('udp4');
     s.on('message', (m, from) => s.send(m, from.port, from.address));
     s.bind(51820, '127.0.0.1', () => console.log('echo ready'));`,
  ]);
  // Answers every connection with a stream of bytes that are no framing of WireGuard.
  const garbage = spawnIn(world.server, process.execPath, [
    '-e',
    `require('node:net').createServer((c) => { c.on('error', () => {}); c.write(Buffer.alloc(40000, 'A')); })
       .listen(8099, '${SERVER_V4}', () => console.log('garbage ready'));`,
  ]);
  drivers.push(garbage);
  relay = startRelay();
  const started: Promise<unknown>[] = [
    echo.waitForLine(/echo ready/, 5000),
    garbage.waitForLine(/garbage ready/, 5000),
    relay.waitForLine(/metrics on/, 10_000),
  ];
  if (!squidSkip)
    started.push(
      startSquid(world.server, {
        dir,
        address: SERVER_V4,
        user: PROXY_USER,
        password: PROXY_PASSWORD,
        relayPorts: '8080-8443',
      }).then((spawned) => (squid = spawned)),
    );
  await Promise.all(started);
});

after(async () => {
  if (skip) return;
  await Promise.all(drivers.map((driver) => driver.stop()));
  await Promise.all([squid?.stop(), relay?.stop(), echo?.stop()]);
  if (process.env.RT_DEBUG) console.log(relay?.output(), squid?.output());
  await world?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** The transport in the client namespace, through the driver. */
function drive(url: string, extra: string[] = []): Spawned {
  const driver = spawnIn(world.client, process.execPath, [DRIVER, '--url', url, ...extra]);
  drivers.push(driver);
  return driver;
}

const withClientCert = (): string[] => ['--ca', pki.ca, '--cert', pki.clientCert, '--key', pki.clientKey];

/** The highest sequence number that came back so far, or -1. */
function lastEcho(driver: Spawned): number {
  const seen = [...driver.output().matchAll(/^echo (\d+)$/gm)].map((match) => Number(match[1]));
  return seen.length === 0 ? -1 : Math.max(...seen);
}

/** Waits until at least `count` more datagrams than `after` came back. */
async function echoes(driver: Spawned, count = 5, after = lastEcho(driver)): Promise<void> {
  for (const started = performance.now(); lastEcho(driver) < after + count;) {
    if (performance.now() - started > 5000)
      throw new Error(`no echoes (after ${after}):\n${driver.output()}\nrelay:\n${relay.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops the driver; it must exit by itself, cleanly (no crash on the way). */
async function finish(driver: Spawned): Promise<void> {
  assert.equal(await driver.stop(), 0, `the driver exited cleanly:\n${driver.output()}`);
  assert.match(driver.output(), /^counters \{"sent":\d+,"received":\d+,"dropped":\d+,"connects":\d+\}$/m);
}

/** The packets the client namespace sent to `port` with and without MARK, as nft counted them. */
async function markedPackets(): Promise<{ marked: number; unmarked: number }> {
  const listing = await world.nft('list table inet rt_mark');
  const count = (comment: string): number =>
    Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${comment}"`).exec(listing)?.[1] ?? NaN);
  return { marked: count('marked'), unmarked: count('unmarked') };
}

test('relay transports against phantommesh-relay', { skip, timeout: 60_000 }, async (t) => {
  await world.nft(
    'add table inet rt_mark; ' +
      'add chain inet rt_mark out { type filter hook output priority 0; policy accept; }; ' +
      `add rule inet rt_mark out tcp dport 8080 meta mark ${MARK} counter comment "marked"; ` +
      `add rule inet rt_mark out tcp dport 8080 meta mark != ${MARK} counter comment "unmarked"`,
  );

  await t.test(
    'tcp:// with SO_MARK: datagrams echo back; every packet to the relay carries the mark',
    async () => {
      const driver = drive(URLS.tcp, ['--fwmark', String(MARK)]);
      await driver.waitForLine(/^state connected$/, 5000);
      assert.match(driver.output(), new RegExp(`^peer ${SERVER_V4}:8080$`, 'm'));
      await echoes(driver);
      const socket = await execIn(world.client, 'ss', ['-Htine', `dst ${SERVER_V4}:8080`]);
      await finish(driver);
      const { marked, unmarked } = await markedPackets();
      assert.ok(marked >= 10, `packets with the mark: ${marked}`);
      assert.equal(unmarked, 0, 'packets without the mark');
      assert.match(socket, new RegExp(`fwmark:0x${MARK.toString(16)}`), `ss shows the mark:\n${socket}`);
    },
  );

  await t.test('tcp:// over IPv6; the mark set later: the connection is made again with it', async () => {
    const driver = drive(URLS.tcp6, ['--fwmark-later', String(MARK)]);
    await echoes(driver);
    // nft counts from the start: the differences are what this connection sent.
    let before = await markedPackets();
    await echoes(driver);
    let now = await markedPackets();
    assert.equal(now.marked - before.marked, 0, 'no mark yet');
    assert.ok(now.unmarked - before.unmarked >= 5);
    driver.child.kill('SIGUSR2');
    await driver.waitForLine(/^log .*fwmark now 0x7274: reconnecting$/, 5000);
    await echoes(driver);
    before = await markedPackets();
    await echoes(driver);
    now = await markedPackets();
    const [marked, unmarked] = [now.marked - before.marked, now.unmarked - before.unmarked];
    assert.ok(marked >= 5 && unmarked === 0, `marked ${marked}, unmarked ${unmarked}`);
    assert.equal(driver.output().match(/^state connected$/gm)?.length, 2);
    await finish(driver);
  });

  await t.test('ws://', async () => {
    const driver = drive(URLS.ws);
    await echoes(driver);
    await finish(driver);
  });

  await t.test('wss:// with a client certificate (mutual TLS), marked', async () => {
    const driver = drive(URLS.wss, [...withClientCert(), '--fwmark', String(MARK)]);
    await echoes(driver);
    await finish(driver);
    assert.match(relay.output(), /connect #\d+ wss \S+ cert CN="client"/);
  });

  await t.test(
    'wss:// to a host name at an address given (no resolving): TLS verifies the name',
    async () => {
      const driver = drive('wss://relay.test:8443/wg', [...withClientCert(), '--connect-address', SERVER_V4]);
      await echoes(driver);
      assert.match(driver.output(), new RegExp(`^peer ${SERVER_V4}:8443$`, 'm'));
      await finish(driver);
      const wrongName = drive('wss://other.test:8443/wg', [
        ...withClientCert(),
        '--connect-address',
        SERVER_V4,
      ]);
      assert.match(
        await wrongName.waitForLine(/^state waiting: /, 5000),
        /TLS: certificate verify failed: .*other\.test/,
      );
      await finish(wrongName);
    },
  );

  await t.test('wss:// refused: the wrong CA, no client certificate, one from another CA', async () => {
    const rogueCa = join(pki.dir, 'rogue-ca.pem');
    const cases = [
      [['--ca', rogueCa, '--cert', pki.clientCert, '--key', pki.clientKey], /TLS: certificate verify failed/],
      // The alert, or the reset that overtook it (relay-transport.ts says when).
      [
        ['--ca', pki.ca],
        /TLS: the relay (requires a client certificate|.*does it require a client certificate)/,
      ],
      [
        ['--ca', pki.ca, '--cert', pki.rogueCert, '--key', pki.rogueKey],
        /TLS: the relay (refused|.*refuse) the client certificate/,
      ],
    ] as const;
    await Promise.all(
      cases.map(async ([args, reason]) => {
        const driver = drive(URLS.wss, [...args]);
        const line = await driver.waitForLine(/^state waiting: /, 5000);
        assert.match(line, reason, driver.output());
        assert.doesNotMatch(driver.output(), /^state connected$/m);
        await finish(driver);
      }),
    );
  });

  await t.test(
    'a server sending garbage, a WebSocket path not served: closed with the reason, no crash',
    async () => {
      const driver = drive(URLS.garbage);
      const line = await driver.waitForLine(/^state waiting: /, 5000);
      assert.match(line, /protocol: the relay sent a datagram that is not WireGuard/);
      // A WebSocket path the relay does not serve.
      const wrongPath = drive(`ws://${SERVER_V4}:8081/elsewhere`);
      assert.match(
        await wrongPath.waitForLine(/^state waiting: /, 5000),
        /the relay answered HTTP 404 to the WebSocket upgrade/,
      );
      await Promise.all([finish(driver), finish(wrongPath)]);
    },
  );

  await t.test(
    'through squid (HTTP CONNECT), direct TCP to the relay dropped',
    { skip: squidSkip },
    async () => {
      await world.nft(
        'add table inet rt_block; ' +
          'add chain inet rt_block out { type filter hook output priority 0; policy accept; }; ' +
          `add rule inet rt_block out ip daddr ${SERVER_V4} tcp dport != { 3128, 3129 } counter reject with tcp reset`,
      );
      try {
        const direct = drive(URLS.tcp);
        const open = `http://${SERVER_V4}:3128`;
        const authed = `http://${PROXY_USER}:${encodeURIComponent(PROXY_PASSWORD)}@${SERVER_V4}:3129`;
        const wrong = `http://${PROXY_USER}:wrong@${SERVER_V4}:3129`;
        const overTcp = drive(URLS.tcp, ['--proxy', open, '--fwmark', String(MARK)]);
        const overWss = drive(URLS.wss, [...withClientCert(), '--proxy', open]);
        const withAuth = drive(URLS.wss, [...withClientCert(), '--proxy', authed]);
        const noAuth = drive(URLS.tcp, ['--proxy', `http://${SERVER_V4}:3129`]);
        const badAuth = drive(URLS.tcp, ['--proxy', wrong]);
        await Promise.all([echoes(overTcp), echoes(overWss), echoes(withAuth)]);
        assert.match(overTcp.output(), new RegExp(`^peer ${SERVER_V4}:3128$`, 'm'));
        assert.match(await noAuth.waitForLine(/^state waiting: /, 5000), /proxy answered 407/);
        assert.match(await badAuth.waitForLine(/^state waiting: /, 5000), /proxy answered 407/);
        // The log never shows the password.
        assert.doesNotMatch(withAuth.output() + badAuth.output(), /s3cret|wrong/);
        assert.match(withAuth.output(), /via proxy http:\/\/\*\*\*@/);
        // Direct, the relay cannot be reached at all: the echoes above went through squid.
        assert.match(await direct.waitForLine(/^state waiting: /, 5000), /connection refused/);
        await Promise.all([overTcp, overWss, withAuth, noAuth, badAuth, direct].map(finish));
      } finally {
        await world.nft('delete table inet rt_block');
      }
    },
  );

  await t.test('a connection that dies silently (packets dropped) is noticed and made again', async () => {
    const driver = drive(URLS.tcp, ['--stall-timeout', '2000']);
    await echoes(driver);
    await world.nft(
      'add table inet rt_stall; ' +
        'add chain inet rt_stall out { type filter hook output priority 0; policy accept; }; ' +
        `add rule inet rt_stall out ip daddr ${SERVER_V4} tcp dport 8080 drop`,
    );
    try {
      assert.match(
        await driver.waitForLine(/^state waiting: /, 5000),
        /nothing received for 2 s while sending \(the connection is presumed dead\)/,
      );
    } finally {
      await world.nft('delete table inet rt_stall');
    }
    await echoes(driver);
    assert.equal(driver.output().match(/^state connected$/gm)?.length, 2);
    await finish(driver);
  });

  await t.test('the relay killed and started again: the transport connects again', async () => {
    const driver = drive(URLS.tcp);
    await echoes(driver);
    await relay.stop();
    await driver.waitForLine(/^state waiting: (the relay closed the connection|connection reset)/, 5000);
    await driver.waitForLine(/^state waiting: connection refused$/, 5000);
    relay = startRelay();
    await relay.waitForLine(/metrics on/, 10_000);
    await echoes(driver);
    const connects = driver.output().match(/^log .*: connected$/gm) ?? [];
    assert.equal(connects.length, 2, driver.output());
    await finish(driver);
  });
});
