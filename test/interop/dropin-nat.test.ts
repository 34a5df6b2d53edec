// NAT between the peers, as wireguard-go's tests/netns.sh tests it: our end behind a router that
// masquerades (nftables) with conntrack's UDP timeouts cut to 2 s, Debian's wireguard-go on the far
// side. Our persistent keepalive (1 s) keeps the router's mapping alive, so the far side can still
// reach us after waiting longer than the timeout; without the keepalive the same wait loses it.
//
//   ns1: ours 192.0.2.1     ns0: router, SNAT 198.51.100.0/24 -> 203.0.113.1     ns2: wireguard-go
//   vethc 198.51.100.100 --- vethrc 198.51.100.1 | vethrs 203.0.113.1 --- veths 203.0.113.100, 192.0.2.2

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execIn, testSkipReason, wgShow, type KeyPair } from '../lib/netns.ts';
import { DropinWorld, quickPing } from '../lib/dropin-world.ts';

const skip = testSkipReason();
const OUR_PORT = 10000;
const GO_PORT = 20000;
const CONNTRACK_UDP_TIMEOUT_S = 2;

let world: DropinWorld;
let ns0: string;
let ns1: string;
let ns2: string;
let ours: string;
let go: string;
let ourKeys: KeyPair;
let goKeys: KeyPair;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  if (skip) return;
  world = await DropinWorld.create();
  [ns0, ns1, ns2] = [await world.namespace(), await world.namespace(), await world.namespace()];
  ours = await world.start('phantommesh', ns1);
  go = await world.start('wireguard-go', ns2);

  const link = async (router: string, host: string, ns: string, routerIp: string, hostIp: string) => {
    await execIn(ns0, 'ip', ['link', 'add', router, 'type', 'veth', 'peer', 'name', host, 'netns', ns]);
    await execIn(ns0, 'ip', ['address', 'add', routerIp, 'dev', router]);
    await execIn(ns0, 'ip', ['link', 'set', router, 'up']);
    await execIn(ns, 'ip', ['address', 'add', hostIp, 'dev', host]);
    await execIn(ns, 'ip', ['link', 'set', host, 'up']);
  };
  await link('vethrc', 'vethc', ns1, '198.51.100.1/24', '198.51.100.100/24');
  await link('vethrs', 'veths', ns2, '203.0.113.1/24', '203.0.113.100/24');
  await execIn(ns1, 'ip', ['route', 'add', 'default', 'via', '198.51.100.1']);
  await execIn(ns0, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  await execIn(ns0, 'nft', [
    '-f',
    await world.file(
      'nat.nft',
      `table ip dqnat {
         chain postrouting {
           type nat hook postrouting priority srcnat;
           ip saddr 198.51.100.0/24 ip daddr 203.0.113.0/24 snat to 203.0.113.1
         }
       }\n`,
    ),
  ]);
  // Conntrack is loaded by now (the NAT table needs it), and its timeouts are per namespace.
  await execIn(ns0, 'sysctl', [
    '-q',
    '-w',
    `net.netfilter.nf_conntrack_udp_timeout=${CONNTRACK_UDP_TIMEOUT_S}`,
    `net.netfilter.nf_conntrack_udp_timeout_stream=${CONNTRACK_UDP_TIMEOUT_S}`,
  ]);

  await execIn(ns1, 'ip', ['address', 'add', '192.0.2.1/24', 'dev', ours]);
  await execIn(ns2, 'ip', ['address', 'add', '192.0.2.2/24', 'dev', go]);
  [ourKeys, goKeys] = await world.pairPeers(
    { name: ours, wgNs: ns1, ns: ns1, port: OUR_PORT, allowedIps: '192.0.2.2/32' },
    { name: go, wgNs: ns2, ns: ns2, port: GO_PORT, allowedIps: '192.0.2.1/32' },
  );
});

after(async () => {
  if (skip) return;
  await world.destroy();
});

test(
  'behind NAT, a 1 s persistent keepalive keeps the mapping past conntrack’s UDP timeout',
  { skip },
  async () => {
    await execIn(ns1, 'wg', [
      'set',
      ours,
      'peer',
      goKeys.publicKey,
      'endpoint',
      `203.0.113.100:${GO_PORT}`,
      'persistent-keepalive',
      '1',
    ]);
    assert.equal(await quickPing(ns1, '192.0.2.2', { count: 1 }), 1);
    assert.equal(await quickPing(ns2, '192.0.2.1', { count: 1 }), 1);
    // wireguard-go knows us only by the router's mapping of our socket.
    assert.equal((await wgShow(ns2, go, 'endpoints')).get(ourKeys.publicKey), `203.0.113.1:${OUR_PORT}`);

    await sleep((CONNTRACK_UDP_TIMEOUT_S + 1) * 1000);
    assert.equal(await quickPing(ns2, '192.0.2.1', { count: 1 }), 1, 'the far side still reaches us');

    // The control: without the keepalive, the same silence ends the mapping, and the far side's
    // packets to 203.0.113.1:10000 have nowhere to go.
    await execIn(ns1, 'wg', ['set', ours, 'peer', goKeys.publicKey, 'persistent-keepalive', 'off']);
    await sleep((CONNTRACK_UDP_TIMEOUT_S + 1) * 1000);
    assert.equal(
      await quickPing(ns2, '192.0.2.1', { count: 1, deadlineSeconds: 2 }),
      0,
      'without keepalive the mapping expired',
    );
  },
);
