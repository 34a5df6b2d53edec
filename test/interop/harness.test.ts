// wireguard-go <-> wireguard-go across the veth pair, both set up by the harness. It proves the harness
// before PhantomMesh is put on one end, and it is the baseline the benchmark compares PhantomMesh with.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createTopology,
  genKeyPair,
  genPsk,
  iperf3Client,
  iperf3Server,
  ping,
  requireRoot,
  startWireguardGo,
  uniqueName,
} from '../lib/netns.ts';

const port = 51820;

test('harness: wireguard-go <-> wireguard-go across a veth pair', { timeout: 90_000 }, async (t) => {
  if (!requireRoot(t)) return;
  const topology = await createTopology();
  t.after(() => topology.destroy());
  const { a, b } = topology;
  const [keysA, keysB, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);

  // A knows B's endpoint; B has none and must learn A's from the handshake.
  const wgA = await startWireguardGo(a.ns, uniqueName('wga'), {
    privateKey: keysA.privateKey,
    listenPort: port,
    addresses: ['192.0.2.1/24', 'fd00:6::1/64'],
    peers: [
      {
        publicKey: keysB.publicKey,
        presharedKey: psk,
        endpoint: `${b.ipv4}:${port}`,
        allowedIps: ['192.0.2.2/32', 'fd00:6::2/128'],
      },
    ],
  });
  const wgB = await startWireguardGo(b.ns, uniqueName('wgb'), {
    privateKey: keysB.privateKey,
    listenPort: port,
    addresses: ['192.0.2.2/24', 'fd00:6::2/64'],
    peers: [{ publicKey: keysA.publicKey, presharedKey: psk, allowedIps: ['192.0.2.1/32', 'fd00:6::1/128'] }],
  });

  await t.test('ping A -> B, IPv4 and IPv6, and a full 1420-byte packet with DF', async () => {
    assert.equal((await ping(a.ns, '192.0.2.2')).received, 3);
    assert.equal((await ping(a.ns, 'fd00:6::2')).received, 3);
    assert.equal((await ping(a.ns, '192.0.2.2', { count: 1, size: 1420 - 28, df: true })).received, 1);
  });

  await t.test('B learned A as endpoint and pings back', async () => {
    const endpoints = await wgB.wgShow('endpoints');
    assert.equal(endpoints.get(keysA.publicKey), `${a.ipv4}:${port}`);
    assert.equal((await ping(b.ns, '192.0.2.1')).received, 3);
    assert.equal((await ping(b.ns, 'fd00:6::1')).received, 3);
  });

  await t.test('wg show: handshake time and transfer counters', async () => {
    const handshakes = await wgA.wgShow('latest-handshakes');
    assert.ok((handshakes.get(keysB.publicKey) ?? 0) > 0);
    const dump = await wgB.wgShow('dump');
    assert.equal(dump.publicKey, keysB.publicKey);
    assert.equal(dump.listenPort, port);
    assert.equal(dump.peers.length, 1);
    const [peer] = dump.peers;
    assert.equal(peer.presharedKey, psk);
    assert.ok(peer.rx > 0 && peer.tx > 0);
  });

  await t.test('iperf3 TCP both directions', async () => {
    const server = await iperf3Server(b.ns);
    const upload = await iperf3Client(a.ns, '192.0.2.2', { seconds: 2 });
    const download = await iperf3Client(a.ns, '192.0.2.2', { seconds: 2, reverse: true });
    await server.stop();
    t.diagnostic(`wireguard-go <-> wireguard-go: A->B ${mbit(upload)}, B->A ${mbit(download)}`);
    assert.ok(upload > 0 && download > 0);
  });
});

const mbit = (bitsPerSecond: number): string => `${(bitsPerSecond / 1e6).toFixed(0)} Mbit/s`;
