// The three-namespace world of the service tests: the client (A) running the real helper, a
// wireguard-go server (B), and an "internet" host (C) behind the server, with a full tunnel stored
// and ways to see from C what leaves A. Shared by service.test.ts and service-killswitch.test.ts.

import {
  createTopology,
  execIn,
  genKeyPair,
  testSkipReason,
  spawnIn,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Topology,
  type WireguardGo,
} from './netns.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';

export const skip = testSkipReason();
export const SERVER_PORT = 51820;
// Unique per run: UAPI sockets in /var/run/wireguard are shared by every namespace on the machine.
export const TUNNEL = uniqueName('pmfull');

export interface World {
  topology: Topology & { c: NonNullable<Topology['c']> };
  ours: KeyPair;
  theirs: KeyPair;
  server: WireguardGo;
  service: Service;
}

export async function startServer(topology: Topology, ours: KeyPair, theirs: KeyPair): Promise<WireguardGo> {
  return startWireguardGo(topology.b.ns, uniqueName('pms'), {
    privateKey: theirs.privateKey,
    listenPort: SERVER_PORT,
    addresses: ['192.0.2.2/24'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
  });
}

export async function withWorld(body: (world: World) => Promise<void>): Promise<void> {
  const topology = (await createTopology({ internet: true })) as World['topology'];
  try {
    const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
    const server = await startServer(topology, ours, theirs);
    const service = await startService(topology.a.ns);
    try {
      await service.client.call('tunnels.import', {
        name: TUNNEL,
        text: [
          '[Interface]',
          `PrivateKey = ${ours.privateKey}`,
          'Address = 192.0.2.1/24',
          'DNS = 192.0.2.53',
          '',
          '[Peer]',
          `PublicKey = ${theirs.publicKey}`,
          'AllowedIPs = 0.0.0.0/0',
          `Endpoint = ${topology.b.ipv4}:${SERVER_PORT}`,
          '',
        ].join('\n'),
      });
      await body({ topology, ours, theirs, server, service });
    } finally {
      await service.destroy();
    }
  } finally {
    await topology.destroy();
  }
}

/** The source address host C sees for a TCP connection from A (read back from C's echo). */
export async function sourceSeenByC(world: World): Promise<string> {
  const server = spawnIn(world.topology.c.ns, process.execPath, [
    '-e',
    "require('net').createServer((s) => s.end(s.remoteAddress)).listen(8080, '0.0.0.0', () => console.log('listening'))",
  ]);
  try {
    await server.waitForLine(/listening/, 5000);
    return await execIn(world.topology.a.ns, process.execPath, [
      '-e',
      "const s = require('net').connect(8080, '203.0.113.1'); s.on('data', (d) => process.stdout.write(d)); s.setTimeout(4000, () => process.exit(1));",
    ]);
  } finally {
    await server.stop();
  }
}

/** Pings C bound to A's physical interface: the way a leak would go, around the tunnel's routes. */
export async function directPingsReachC(world: World): Promise<number> {
  const { a, c } = world.topology;
  const output = await execIn(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', a.veth, c.ipv4]).catch(
    (error: Error) => error.message,
  );
  return Number(/(\d+) received/.exec(output)?.[1] ?? 0);
}

/** Turns the kill switch on and connects the stored full tunnel. */
export async function connectWithKillSwitch(world: World): Promise<void> {
  await world.service.client.call('settings.set', { killSwitch: true });
  await world.service.client.call('tunnels.connect', { name: TUNNEL });
}

/** `nft list tables` in A. */
export function nftTablesInA(world: World): Promise<string> {
  return execIn(world.topology.a.ns, 'nft', ['list', 'tables']);
}

/** Runs `body` while polling `nft list tables` in A; returns the polls that lacked our table. */
export async function tableGapsDuring(
  world: World,
  body: () => Promise<void>,
): Promise<{ polls: number; gaps: number }> {
  let done = false;
  let polls = 0;
  let gaps = 0;
  const poller = (async () => {
    while (!done) {
      const tables = await nftTablesInA(world);
      polls++;
      if (!/inet phantommesh/.test(tables)) gaps++;
    }
  })();
  try {
    await body();
  } finally {
    done = true;
    await poller;
  }
  return { polls, gaps };
}
