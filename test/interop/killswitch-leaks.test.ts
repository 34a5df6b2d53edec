// The kill switch with real traffic: what leaves the client's physical link. Three namespaces as in
// service.test.ts: the client (A) running the real helper, a wireguard-go server (B, also A's
// gateway), and an "internet" host (C) behind B. tcpdump captures everything A sends on its veth
// while probes in A keep sending ICMP, UDP (DNS among it), TCP SYNs and IPv6 to C, to B in clear, and
// to documentation addresses; tshark reads the capture back (test/lib/leak-capture.ts). With the
// kill switch on, the only packets allowed on that link are WireGuard's to the endpoint, ARP,
// neighbour discovery on the link, and DHCP to broadcast: anything else is a leak, and each one is
// listed in the failure. The control test shows the same probes do leave with the kill switch off.

import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import {
  createTopology,
  execIn,
  genKeyPair,
  ping,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Topology,
  type WireguardGo,
} from '../lib/netns.ts';
import {
  captureWhileProbing,
  leakMessage,
  leakTestSkipReason,
  silentProbes,
  type CapturedPacket,
  type Endpoint,
  type LeakRun,
  type Probe,
} from '../lib/leak-capture.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';

const skip = leakTestSkipReason();
const SERVER_PORT = 51820;
/** B, A's gateway and the tunnel's endpoint. */
const GATEWAY = '198.51.100.2';
/** A second address of B's, for an edit that moves the endpoint. */
const OTHER_ENDPOINT = '198.51.100.3';
/** The namespace's own resolver (startService's resolv.conf), given to B so a query to it goes out. */
const RESOLVER = '198.51.100.53';
const C_V4 = '203.0.113.1';
const C_V6 = 'fd00:7::1';
/** Behind B, reachable only in clear: nothing routes documentation addresses through the tunnel but 0/0. */
const DOC_V4 = '203.0.113.53';
const DOC_V6 = '2001:db8::1';
const DHCP_ELSEWHERE = '203.0.113.9';
/** The helper checks its table once a second: packets after this window count after a flush. */
const DETECTION_WINDOW_MS = 2000;

/** A DNS query for leak.example.test (A), as a resolver would send it. */
const DNS_QUERY = Buffer.concat([
  Buffer.from('123401000001000000000000', 'hex'),
  ...['leak', 'example', 'test'].map((label) =>
    Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]),
  ),
  Buffer.from([0, 0, 1, 0, 1]),
]).toString('hex');

interface World {
  topology: Topology & { c: NonNullable<Topology['c']> };
  ours: KeyPair;
  theirs: KeyPair;
  server: WireguardGo;
  service: Service;
  /** The tunnel's name, which is also its interface's: unique, as /var/run/wireguard is shared. */
  tunnel: string;
}

function tunnelText(world: Pick<World, 'ours' | 'theirs'>, endpoint: string): string {
  return [
    '[Interface]',
    `PrivateKey = ${world.ours.privateKey}`,
    'Address = 192.0.2.1/24',
    'DNS = 192.0.2.53',
    '',
    '[Peer]',
    `PublicKey = ${world.theirs.publicKey}`,
    'AllowedIPs = 0.0.0.0/0',
    `Endpoint = ${endpoint}`,
    '',
  ].join('\n');
}

async function startServer(topology: Topology, ours: KeyPair, theirs: KeyPair): Promise<WireguardGo> {
  return startWireguardGo(topology.b.ns, uniqueName('pmls'), {
    privateKey: theirs.privateKey,
    listenPort: SERVER_PORT,
    addresses: ['192.0.2.2/24'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
  });
}

interface WorldOptions {
  killSwitch?: boolean;
  /** Connect the tunnel and wait for its handshake. */
  connect?: boolean;
}

async function withWorld(options: WorldOptions, body: (world: World) => Promise<void>): Promise<void> {
  const topology = (await createTopology({ internet: true })) as World['topology'];
  try {
    const { b } = topology;
    for (const address of [OTHER_ENDPOINT, RESOLVER])
      await execIn(b.ns, 'ip', ['address', 'add', `${address}/24`, 'dev', b.veth]);
    const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
    const server = await startServer(topology, ours, theirs);
    const service = await startService(topology.a.ns);
    const world: World = { topology, ours, theirs, server, service, tunnel: uniqueName('pmlk') };
    try {
      const { client } = service;
      await client.call('tunnels.import', {
        name: world.tunnel,
        text: tunnelText(world, `${GATEWAY}:${SERVER_PORT}`),
      });
      if (options.killSwitch) await client.call('settings.set', { killSwitch: true });
      if (options.connect) await connect(world);
      await body(world);
    } finally {
      await world.service.destroy();
    }
  } finally {
    await topology.destroy();
  }
}

async function connect(world: World): Promise<void> {
  await world.service.client.call('tunnels.connect', { name: world.tunnel });
  // The first packet through the tunnel starts the handshake (no PersistentKeepalive).
  await ping(world.topology.a.ns, '192.0.2.2', { count: 1 });
  await world.service.waitForStatus(world.tunnel, (s) => s.state === 'connected', 15_000);
}

/** ICMP, UDP (DNS among it), TCP and IPv6 towards everything a leak could reach from A. */
function standardProbes(world: World): Probe[] {
  const { a } = world.topology;
  return [
    { kind: 'icmp', to: C_V4 },
    { kind: 'icmp', to: C_V4, device: a.veth },
    { kind: 'icmp', to: GATEWAY },
    { kind: 'icmp', to: C_V6 },
    { kind: 'icmp', to: DOC_V6 },
    { kind: 'udp', to: RESOLVER, port: 53, payload: DNS_QUERY },
    { kind: 'udp', to: DOC_V4, port: 53, payload: DNS_QUERY },
    { kind: 'udp', to: '2001:db8::53', port: 53, payload: DNS_QUERY },
    { kind: 'udp', to: C_V4, port: 5000 },
    { kind: 'udp', to: C_V6, port: 5000 },
    { kind: 'udp', to: DHCP_ELSEWHERE, port: 67, sourcePort: 68 },
    // Any other socket (unmarked) to the endpoint's address and port: not the helper's.
    { kind: 'udp', to: GATEWAY, port: SERVER_PORT },
    { kind: 'tcp', to: C_V4, port: 443 },
    { kind: 'tcp', to: GATEWAY, port: 443 },
    { kind: 'tcp', to: DOC_V6, port: 443 },
    { kind: 'tcp', to: C_V6, port: 443 },
  ];
}

const ENDPOINTS: Endpoint[] = [
  { address: GATEWAY, port: SERVER_PORT },
  { address: OTHER_ENDPOINT, port: SERVER_PORT },
];

interface Run {
  probes?: Probe[];
  during?: () => Promise<void>;
  minMs?: number;
  tailMs?: number;
}

async function probeLink(world: World, run: Run = {}): Promise<LeakRun> {
  return captureWhileProbing({
    ns: world.topology.a.ns,
    iface: world.topology.a.veth,
    allowed: { endpoints: ENDPOINTS },
    probes: run.probes ?? standardProbes(world),
    ...(run.during ? { during: run.during } : {}),
    ...(run.minMs !== undefined ? { minMs: run.minMs } : {}),
    ...(run.tailMs !== undefined ? { tailMs: run.tailMs } : {}),
  });
}

function assertNoLeaks(run: LeakRun, leaks: readonly CapturedPacket[] = run.leaks): void {
  assert.equal(run.droppedByKernel, 0, 'the capture missed packets');
  assert.deepEqual(silentProbes(run), [], 'every probe sent something');
  assert.ok(leaks.length === 0, leakMessage(run, leaks));
}

/** The tunnel carried the probes: WireGuard's UDP was on the link (so the capture and probes ran). */
function assertTunnelCarried(run: LeakRun): void {
  assert.ok((run.allowed.wireguard ?? 0) > 0, `no WireGuard traffic seen: ${JSON.stringify(run.allowed)}`);
}

const TIMEOUT = 60_000;

// The scenarios are independent (a world each). Waiting for "reconnecting" takes the product's 20 s
// handshake timeout and more, so that scenario runs beside the others, which run one after another.
describe('kill switch: nothing leaves the physical link', { concurrency: 2 }, () => {
  test(
    'server gone: nothing leaks while the tunnel goes from connected to reconnecting',
    { skip, timeout: TIMEOUT },
    () =>
      withWorld({ killSwitch: true, connect: true }, async (world) => {
        const run = await probeLink(world, {
          during: async () => {
            await world.server.stop();
            await world.service.waitForStatus(world.tunnel, (s) => s.state === 'reconnecting', 45_000);
          },
          tailMs: 1000,
        });
        assertNoLeaks(run);
      }),
  );

  describe('one after another', { concurrency: 1 }, () => {
    test(
      'control: kill switch off and disconnected, the same probes do leave the physical link',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({}, async (world) => {
          const result = await probeLink(world);
          assert.deepEqual(silentProbes(result), [], 'every probe sent something');
          const leaked = (match: (p: CapturedPacket) => boolean, what: string): void =>
            assert.ok(
              result.leaks.some(match),
              `expected ${what} in clear; saw:\n${result.describe(result.packets)}`,
            );
          leaked((p) => p.protocol === 'icmp' && p.dst === C_V4, 'ICMP to C');
          leaked((p) => p.protocol === 'icmp' && p.dst === GATEWAY, 'ICMP to the gateway');
          leaked((p) => p.protocol === 'icmpv6' && p.dst === C_V6 && p.icmpType === 128, 'ICMPv6 echo to C');
          leaked((p) => p.protocol === 'icmpv6' && p.dst === DOC_V6, 'ICMPv6 echo to 2001:db8::1');
          leaked((p) => p.protocol === 'udp' && p.dport === 53 && p.dst === RESOLVER, 'DNS to the resolver');
          leaked((p) => p.protocol === 'udp' && p.dport === 53 && p.dst === DOC_V4, 'DNS to 203.0.113.53');
          leaked((p) => p.protocol === 'udp' && p.dport === 53 && p.kind === 'ipv6', 'DNS over IPv6');
          leaked(
            (p) => p.protocol === 'udp' && p.sport === 68 && p.dst === DHCP_ELSEWHERE,
            'DHCP-shaped UDP',
          );
          leaked(
            (p) => p.protocol === 'udp' && p.dst === GATEWAY && p.dport === SERVER_PORT,
            'UDP to the endpoint',
          );
          leaked((p) => p.protocol === 'tcp' && p.tcpFlags === '0x0002' && p.dst === C_V4, 'a TCP SYN to C');
          leaked((p) => p.protocol === 'tcp' && p.kind === 'ipv6' && p.dst === DOC_V6, 'a TCP SYN over IPv6');
        }),
    );

    test(
      'steady state: kill switch on, connected, nothing but the tunnel leaves',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({ killSwitch: true, connect: true }, async (world) => {
          const run = await probeLink(world);
          assertNoLeaks(run);
          assertTunnelCarried(run);
        }),
    );

    test('editing the active tunnel to another good endpoint leaks nothing', { skip, timeout: TIMEOUT }, () =>
      withWorld({ killSwitch: true, connect: true }, async (world) => {
        const { client } = world.service;
        const run = await probeLink(world, {
          during: async () => {
            await client.call('tunnels.update', {
              name: world.tunnel,
              text: tunnelText(world, `${OTHER_ENDPOINT}:${SERVER_PORT}`),
            });
            await world.service.waitForStatus(
              world.tunnel,
              (s) => s.state === 'connected' && s.endpoint === `${OTHER_ENDPOINT}:${SERVER_PORT}`,
              15_000,
            );
          },
        });
        assertNoLeaks(run);
        assertTunnelCarried(run);
      }),
    );

    test(
      'editing the active tunnel to an endpoint name that does not resolve leaks nothing, not even the lookup',
      { skip, timeout: TIMEOUT },
      (t: TestContext) =>
        withWorld({ killSwitch: true, connect: true }, async (world) => {
          const { client } = world.service;
          const run = await probeLink(world, {
            during: async () => {
              const outcome = await client
                .call('tunnels.update', {
                  name: world.tunnel,
                  text: tunnelText(world, `nowhere.example.test:${SERVER_PORT}`),
                })
                .then(
                  () => 'accepted',
                  (error: Error) => `refused: ${error.message}`,
                );
              t.diagnostic(`tunnels.update: ${outcome}`);
            },
            tailMs: 1000,
          });
          assertNoLeaks(run);
        }),
    );

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      test(
        `helper ${signal === 'SIGTERM' ? 'stopped (SIGTERM)' : 'killed (kill -9)'} and restarted while connected leaks nothing`,
        { skip, timeout: TIMEOUT },
        () =>
          withWorld({ killSwitch: true, connect: true }, async (world) => {
            const run = await probeLink(world, {
              during: async () => {
                await world.service.kill(signal);
                await new Promise((resolve) => setTimeout(resolve, 500));
                await world.service.restart();
                await world.service.waitForStatus(world.tunnel, (s) => s.state === 'connected', 15_000);
              },
            });
            assertNoLeaks(run);
          }),
      );
    }

    test(
      `nft flush ruleset by another tool: nothing leaks once ${DETECTION_WINDOW_MS} ms have passed`,
      { skip, timeout: TIMEOUT },
      (t: TestContext) =>
        withWorld({ killSwitch: true, connect: true }, async (world) => {
          let flushedAt = 0;
          const run = await probeLink(world, {
            during: async () => {
              await new Promise((resolve) => setTimeout(resolve, 300));
              flushedAt = Date.now() / 1000;
              await execIn(world.topology.a.ns, 'nft', ['flush', 'ruleset']);
              await new Promise((resolve) => setTimeout(resolve, DETECTION_WINDOW_MS + 2000));
            },
          });
          const afterWindow = run.leaksSince(flushedAt + DETECTION_WINDOW_MS / 1000);
          t.diagnostic(`${run.leaks.length - afterWindow.length} packet(s) left within the detection window`);
          assertNoLeaks(run, afterWindow);
        }),
    );

    test(
      'DHCP-shaped UDP (68 -> 67) to a unicast address that routes in clear is not let out',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({ killSwitch: true, connect: true }, async (world) => {
          // A host route around the tunnel, as a DHCP client's unicast renewal would take.
          await execIn(world.topology.a.ns, 'ip', ['route', 'add', `${DHCP_ELSEWHERE}/32`, 'via', GATEWAY]);
          assertNoLeaks(
            await probeLink(world, {
              probes: [{ kind: 'udp', to: DHCP_ELSEWHERE, port: 67, sourcePort: 68 }],
            }),
          );
        }),
    );

    test(
      'a more-specific route injected around the tunnel (203.0.113.0/25 via the gateway) leaks nothing',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({ killSwitch: true, connect: true }, async (world) => {
          const run = await probeLink(world, {
            during: async () => {
              await new Promise((resolve) => setTimeout(resolve, 300));
              await execIn(world.topology.a.ns, 'ip', ['route', 'add', '203.0.113.0/25', 'via', GATEWAY]);
              await new Promise((resolve) => setTimeout(resolve, 1500));
            },
          });
          assertNoLeaks(run);
        }),
    );

    test(
      'TunnelVision: kill switch OFF, full tunnel up, routes injected around it (0.0.0.0/1, 128.0.0.0/1): nothing leaks',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({ killSwitch: false, connect: true }, async (world) => {
          // What a hostile DHCP server's option 121 does: more specific than the tunnel's default
          // route, so the routing table alone would send everything around the tunnel.
          const run = await probeLink(world, {
            during: async () => {
              await new Promise((resolve) => setTimeout(resolve, 300));
              for (const prefix of ['0.0.0.0/1', '128.0.0.0/1'])
                await execIn(world.topology.a.ns, 'ip', ['route', 'add', prefix, 'via', GATEWAY]);
              await new Promise((resolve) => setTimeout(resolve, 1500));
            },
          });
          assertNoLeaks(run);
        }),
    );

    test('IPv6 through an IPv4-only tunnel: none of it leaves in clear', { skip, timeout: TIMEOUT }, () =>
      withWorld({ killSwitch: true, connect: true }, async (world) =>
        assertNoLeaks(
          await probeLink(world, {
            probes: [
              { kind: 'icmp', to: C_V6 },
              { kind: 'icmp', to: DOC_V6 },
              { kind: 'icmp', to: 'fd00:5::2' },
              { kind: 'icmp', to: C_V6, device: world.topology.a.veth },
              { kind: 'udp', to: C_V6, port: 5000 },
              { kind: 'udp', to: DOC_V6, port: 53, payload: DNS_QUERY },
              { kind: 'tcp', to: C_V6, port: 443 },
              { kind: 'tcp', to: 'fd00:5::2', port: 443 },
            ],
          }),
        ),
      ),
    );

    test(
      "DNS to servers other than the tunnel's leaks nothing (UDP and TCP, IPv4 and IPv6)",
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({ killSwitch: true, connect: true }, async (world) =>
          assertNoLeaks(
            await probeLink(world, {
              probes: [RESOLVER, DOC_V4, GATEWAY, '2001:db8::53', 'fd00:5::2'].flatMap((to): Probe[] => [
                { kind: 'udp', to, port: 53, payload: DNS_QUERY },
                { kind: 'tcp', to, port: 53 },
              ]),
            }),
          ),
        ),
    );

    test('lockdown with no tunnel: nothing leaves the physical link', { skip, timeout: TIMEOUT }, () =>
      withWorld({}, async (world) => {
        await world.service.client.call('settings.set', { lockdown: true });
        assertNoLeaks(await probeLink(world));
      }),
    );

    test(
      'lockdown with the helper not running: nothing leaves the physical link',
      { skip, timeout: TIMEOUT },
      () =>
        withWorld({}, async (world) => {
          await world.service.client.call('settings.set', { lockdown: true });
          await world.service.kill('SIGTERM');
          assertNoLeaks(await probeLink(world));
        }),
    );
  });
});
