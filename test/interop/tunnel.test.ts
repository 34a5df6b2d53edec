// PhantomMesh's foreground tunnel against Debian's wireguard-go, in network namespaces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execIn, iperf3Client, iperf3Server, ping, requireRoot, wgShow } from '../lib/netns.ts';
import {
  INNER,
  OUR_PORT,
  startTunnelPair,
  type PairOptions,
  type TunnelPair,
} from '../../scripts/lab/tunnel-pair.ts';

async function withPair(
  t: Parameters<typeof requireRoot>[0],
  options: PairOptions,
  body: (pair: TunnelPair) => Promise<void>,
): Promise<void> {
  if (!requireRoot(t)) return;
  const pair = await startTunnelPair(options);
  try {
    await body(pair);
  } finally {
    await pair.destroy();
  }
}

const theirKeyOf = (pair: TunnelPair) => pair.theirs.keys.publicKey;
const ourKeyOf = (pair: TunnelPair) => pair.ours.keys.publicKey;

test('we initiate: ping both families, wg show reports the handshake and transfer', (t) =>
  withPair(t, {}, async (pair) => {
    const { a, b } = pair.topology;
    assert.equal((await ping(a.ns, INNER.theirs4)).received, 3);
    assert.equal((await ping(a.ns, INNER.theirs6)).received, 3);
    assert.equal((await ping(b.ns, INNER.ours4)).received, 3, 'and back, on the session we started');
    const handshakes = await pair.ourShow('latest-handshakes');
    assert.ok(handshakes.get(theirKeyOf(pair))! > 0, 'our wg show has a handshake');
    const transfer = (await pair.ourShow('transfer')).get(theirKeyOf(pair))!;
    assert.ok(transfer.rx > 0 && transfer.tx > 0, `transfer ${JSON.stringify(transfer)}`);
    const dump = await pair.ourShow('dump');
    assert.equal(dump.publicKey, ourKeyOf(pair));
    assert.equal(dump.listenPort, OUR_PORT);
    const endpoints = await pair.theirs.wgShow('endpoints');
    assert.equal(endpoints.get(ourKeyOf(pair)), `${a.ipv4}:${OUR_PORT}`);
    const showconf = await execIn(a.ns, 'wg', ['showconf', pair.ours.name]);
    assert.ok(showconf.includes(`PublicKey = ${theirKeyOf(pair)}`), showconf);
    assert.match(showconf, /AllowedIPs = 192\.0\.2\.0\/24, fd00:6::\/64, 203\.0\.113\.0\/24/);
    assert.ok(showconf.includes(`ListenPort = ${OUR_PORT}`), showconf);
  }));

test('they initiate: wireguard-go starts the handshake and traffic flows', (t) =>
  withPair(t, { theyKnowOurEndpoint: true }, async (pair) => {
    const { a, b } = pair.topology;
    assert.equal((await ping(b.ns, INNER.ours4)).received, 3);
    assert.equal((await ping(b.ns, INNER.ours6)).received, 3);
    assert.equal((await ping(a.ns, INNER.theirs4)).received, 3);
  }));

test('IPv6 outer transport', (t) =>
  withPair(t, { outer6: true }, async (pair) => {
    assert.equal((await ping(pair.topology.a.ns, INNER.theirs4)).received, 3);
    const endpoints = await pair.theirs.wgShow('endpoints');
    assert.equal(endpoints.get(ourKeyOf(pair)), `[${pair.topology.a.ipv6}]:${OUR_PORT}`);
  }));

test('TCP both ways with iperf3 over IPv4 and IPv6, and a full-MTU ping with DF set', (t) =>
  withPair(t, {}, async (pair) => {
    const { a, b } = pair.topology;
    const big = await ping(a.ns, INNER.theirs4, { size: 1392, df: true, count: 2 });
    assert.equal(big.received, 2, '1392-byte payload, 1420-byte packet, fits the 1420 MTU unfragmented');
    await iperf3Server(b.ns);
    // Over both inner families: the kernel hands the TUN IPv4 and IPv6 TCP super-packets, and a
    // segment with a wrong checksum would be dropped by the receiving kernel, stalling the stream.
    for (const address of [INNER.theirs4, INNER.theirs6]) {
      const up = await iperf3Client(a.ns, address, { seconds: 2 });
      const down = await iperf3Client(a.ns, address, { seconds: 2, reverse: true });
      t.diagnostic(
        `iperf3 to ${address} through PhantomMesh: up ${(up / 1e6).toFixed(0)} Mbit/s, down ${(down / 1e6).toFixed(0)} Mbit/s`,
      );
      assert.ok(up > 0 && down > 0, `TCP flows both ways to ${address}`);
    }
  }));

test('preshared key: matching works; a wrong one fails without crashing; fixing it at run time works', (t) =>
  withPair(t, { psk: true }, async (pair) => {
    const { a } = pair.topology;
    assert.equal((await ping(a.ns, INNER.theirs4)).received, 3);
    const dir = await mkdtemp(join(tmpdir(), 'pm-psk-'));
    try {
      const wrong = join(dir, 'wrong');
      await writeFile(wrong, Buffer.alloc(32, 7).toString('base64'), { mode: 0o600 });
      await execIn(a.ns, 'wg', ['set', pair.ours.name, 'peer', theirKeyOf(pair), 'preshared-key', wrong]);
      const dump = await pair.ourShow('dump');
      assert.equal(dump.peers[0]!.presharedKey, Buffer.alloc(32, 7).toString('base64'));
      assert.equal((await ping(a.ns, INNER.theirs4)).received, 3, 'the running session is kept');

      // A new runner with the wrong PSK in its file cannot complete a handshake.
      await pair.ours.process.stop();
      const text = (await import('node:fs/promises')).readFile(pair.ours.file, 'utf8');
      await writeFile(
        pair.ours.file,
        (await text).replace(/PresharedKey = .*/, `PresharedKey = ${Buffer.alloc(32, 7).toString('base64')}`),
      );
      await pair.startOurs();
      await assert.rejects(ping(a.ns, INNER.theirs4, { count: 2 }), 'no traffic with a wrong PSK');
      assert.equal(pair.ours.process.child.exitCode, null, 'the runner is still running');
      const right = join(dir, 'right');
      await writeFile(right, pair.ours.psk!, { mode: 0o600 });
      await execIn(a.ns, 'wg', ['set', pair.ours.name, 'peer', theirKeyOf(pair), 'preshared-key', right]);
      // The rate limit allows a new initiation 5 s after the last one: ping until it is made.
      const deadline = Date.now() + 15_000;
      let received = 0;
      while (received === 0 && Date.now() < deadline)
        received = (await ping(a.ns, INNER.theirs4, { count: 1 }).catch(() => ({ received: 0 }))).received;
      assert.ok(received > 0, 'the next handshake uses the new PSK');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }));

test('a peer that does not know our key never answers, and we stay up', (t) =>
  withPair(t, {}, async (pair) => {
    const { a, b } = pair.topology;
    await execIn(b.ns, 'wg', ['set', pair.theirs.ifname, 'peer', ourKeyOf(pair), 'remove']);
    await assert.rejects(ping(a.ns, INNER.theirs4, { count: 2 }));
    assert.equal(pair.ours.process.child.exitCode, null);
    const handshakes = await pair.ourShow('latest-handshakes');
    assert.equal(handshakes.get(theirKeyOf(pair)), 0);
  }));

test('roaming: the peer follows our new address and our new port', (t) =>
  withPair(t, {}, async (pair) => {
    const { a, b } = pair.topology;
    assert.equal((await ping(a.ns, INNER.theirs4)).received, 3);
    // Otherwise deleting the primary address takes the new (secondary) one with it.
    await execIn(a.ns, 'sysctl', ['-q', '-w', `net.ipv4.conf.${a.veth}.promote_secondaries=1`]);
    await execIn(a.ns, 'ip', ['address', 'add', '198.51.100.3/24', 'dev', a.veth]);
    await execIn(a.ns, 'ip', ['address', 'del', `${a.ipv4}/24`, 'dev', a.veth]);
    assert.ok((await ping(a.ns, INNER.theirs4)).received > 0);
    let endpoints = await pair.theirs.wgShow('endpoints');
    assert.equal(endpoints.get(ourKeyOf(pair)), `198.51.100.3:${OUR_PORT}`);

    await execIn(a.ns, 'wg', ['set', pair.ours.name, 'listen-port', '51830']);
    assert.equal((await pair.ourShow('dump')).listenPort, 51830);
    assert.ok((await ping(a.ns, INNER.theirs4)).received > 0);
    endpoints = await pair.theirs.wgShow('endpoints');
    assert.equal(endpoints.get(ourKeyOf(pair)), '198.51.100.3:51830');
    assert.ok((await ping(b.ns, INNER.ours4)).received > 0, 'they reach us at the new endpoint');
  }));

test('rekeying under an open TCP stream does not break it', (t) =>
  withPair(t, { runnerArgs: ['--rekey-after', '2'] }, async (pair) => {
    const { a, b } = pair.topology;
    await iperf3Server(b.ns);
    await ping(a.ns, INNER.theirs4, { count: 1 });
    const initiations = countInitiations(pair);
    // A new handshake at most every REKEY_TIMEOUT (5 s): 14 s leave room for two after the first.
    const bits = await iperf3Client(a.ns, INNER.theirs4, { seconds: 14 });
    // wireguard-go may print its last lines a moment after the stream ends.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rekeys = initiations.stop();
    t.diagnostic(`${rekeys} rekeys during a 14 s stream at ${(bits / 1e6).toFixed(0)} Mbit/s`);
    // At least one: a loaded machine (four test files at a time) stretches the handshakes, and one
    // rekey in the middle of the stream is what this test is about.
    assert.ok(rekeys >= 1, `wireguard-go saw ${rekeys} new handshakes`);
    assert.ok(bits > 0, 'the single TCP stream completed');
  }));

/**
 * Counts the handshake initiations wireguard-go logs from now on, as they are printed: its kept
 * output is capped, and under a fast stream the debug log scrolls the earlier ones out of it.
 */
function countInitiations(pair: TunnelPair): { stop(): number } {
  let count = 0;
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    count += lines.filter((line) => /Received handshake initiation/.test(line)).length;
  };
  const { stdout, stderr } = pair.theirs.process.child;
  stdout?.on('data', onData);
  stderr?.on('data', onData);
  return {
    stop: () => {
      stdout?.off('data', onData);
      stderr?.off('data', onData);
      return count;
    },
  };
}

test('SIGTERM removes the interface, its routes and the UAPI socket', (t) =>
  withPair(t, {}, async (pair) => {
    const { a } = pair.topology;
    const routes = await execIn(a.ns, 'ip', ['route', 'show', 'dev', pair.ours.name]);
    assert.match(routes, /203\.0\.113\.0\/24/, 'a route for the AllowedIPs outside the address subnet');
    assert.equal(await pair.ours.process.stop(), 0);
    await assert.rejects(execIn(a.ns, 'ip', ['link', 'show', pair.ours.name]));
    assert.equal(existsSync(`/var/run/wireguard/${pair.ours.name}.sock`), false);
    assert.doesNotMatch(await execIn(a.ns, 'ip', ['route']), /203\.0\.113/);
  }));

test('deleting the link stops the runner and cleans up', (t) =>
  withPair(t, {}, async (pair) => {
    await execIn(pair.topology.a.ns, 'ip', ['link', 'del', pair.ours.name]);
    assert.equal(await pair.ours.process.exited, 0);
    assert.match(pair.ours.process.output(), /going down/);
    assert.equal(existsSync(`/var/run/wireguard/${pair.ours.name}.sock`), false);
  }));

test('a random listen port is used when the file has none', (t) =>
  withPair(t, { randomPort: true }, async (pair) => {
    const port = (await pair.ourShow('dump')).listenPort;
    assert.ok(port > 0 && port !== OUR_PORT, `port ${port}`);
    assert.equal((await ping(pair.topology.a.ns, INNER.theirs4)).received, 3);
    const endpoints = await wgShow(pair.topology.b.ns, pair.theirs.ifname, 'endpoints');
    assert.equal(endpoints.get(ourKeyOf(pair)), `${pair.topology.a.ipv4}:${port}`);
  }));
