// A PhantomMesh foreground tunnel in namespace A facing Debian's wireguard-go in namespace B,
// across the harness's veth pair. Used by the interop tests, the benchmark and the demo.

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTopology,
  genKeyPair,
  genPsk,
  spawnIn,
  startWireguardGo,
  uniqueName,
  wgShow,
  type KeyPair,
  type Spawned,
  type Topology,
  type WgShowFields,
  type WireguardGo,
} from './netns.ts';

export const RUNNER = new URL('../../helper/src/cli/phantommesh-helper.ts', import.meta.url).pathname;

/** Inner (tunnel) addresses: ours .1, theirs .2. */
export const INNER = { ours4: '192.0.2.1', theirs4: '192.0.2.2', ours6: 'fd00:6::1', theirs6: 'fd00:6::2' };
export const THEIR_PORT = 51820;
export const OUR_PORT = 51821;

export interface PairOptions {
  /** Outer transport over IPv6 (endpoints in fd00:5::/64) instead of IPv4. */
  outer6?: boolean;
  /** Both sides share a preshared key. */
  psk?: boolean;
  /** wireguard-go knows our endpoint too, so either side can initiate. */
  theyKnowOurEndpoint?: boolean;
  persistentKeepalive?: number;
  /** The helper entry point to run; the TypeScript sources by default, the built dist/ for benchmarks. */
  runner?: string;
  /** Extra environment for our runner. */
  env?: Record<string, string>;
  /** Extra arguments for `phantommesh-helper tunnel FILE` (e.g. --rekey-after 2). */
  runnerArgs?: string[];
  /** Omit ListenPort from our file (a random port is used). */
  randomPort?: boolean;
  mtu?: number;
  /** Adds the lab's third namespace `c` (203.0.113.1) behind `b` (createTopology's `internet`). */
  internet?: boolean;
}

export interface TunnelPair {
  topology: Topology;
  ours: { name: string; keys: KeyPair; file: string; process: Spawned; psk: string | undefined };
  theirs: WireguardGo & { keys: KeyPair };
  /** `wg show` on our interface, through our UAPI socket. */
  ourShow<F extends keyof WgShowFields>(field: F): Promise<WgShowFields[F]>;
  /** Starts (again) our runner with the current file; resolves once it says it is up. */
  startOurs(): Promise<Spawned>;
  destroy(): Promise<void>;
}

export function ourConfigText(options: {
  privateKey: string;
  peerPublicKey: string;
  endpoint: string;
  psk?: string | undefined;
  listenPort?: number | undefined;
  persistentKeepalive?: number | undefined;
  mtu?: number | undefined;
}): string {
  return [
    '[Interface]',
    `PrivateKey = ${options.privateKey}`,
    `Address = ${INNER.ours4}/24, ${INNER.ours6}/64`,
    ...(options.listenPort !== undefined ? [`ListenPort = ${options.listenPort}`] : []),
    ...(options.mtu !== undefined ? [`MTU = ${options.mtu}`] : []),
    '',
    '[Peer]',
    `PublicKey = ${options.peerPublicKey}`,
    ...(options.psk ? [`PresharedKey = ${options.psk}`] : []),
    `AllowedIPs = 192.0.2.0/24, fd00:6::/64, 203.0.113.0/24`,
    `Endpoint = ${options.endpoint}`,
    ...(options.persistentKeepalive ? [`PersistentKeepalive = ${options.persistentKeepalive}`] : []),
    '',
  ].join('\n');
}

export async function writeTunnelFile(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.conf`);
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export async function startTunnelPair(options: PairOptions = {}): Promise<TunnelPair> {
  const topology = await createTopology({ internet: options.internet ?? false });
  const dir = await mkdtemp(join(tmpdir(), 'pm-tunnel-'));
  try {
    const ourKeys = await genKeyPair();
    const theirKeys = await genKeyPair();
    const psk = options.psk ? await genPsk() : undefined;
    const host = (side: { ipv4: string; ipv6: string }) => (options.outer6 ? `[${side.ipv6}]` : side.ipv4);
    const theirs = await startWireguardGo(topology.b.ns, uniqueName('pmg'), {
      privateKey: theirKeys.privateKey,
      listenPort: THEIR_PORT,
      addresses: [`${INNER.theirs4}/24`, `${INNER.theirs6}/64`],
      ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
      peers: [
        {
          publicKey: ourKeys.publicKey,
          ...(psk ? { presharedKey: psk } : {}),
          ...(options.theyKnowOurEndpoint ? { endpoint: `${host(topology.a)}:${OUR_PORT}` } : {}),
          allowedIps: [`${INNER.ours4}/32`, `${INNER.ours6}/128`],
        },
      ],
    });
    const name = uniqueName('pmt');
    const file = await writeTunnelFile(
      dir,
      name,
      ourConfigText({
        privateKey: ourKeys.privateKey,
        peerPublicKey: theirKeys.publicKey,
        endpoint: `${host(topology.b)}:${THEIR_PORT}`,
        psk,
        listenPort: options.randomPort ? undefined : OUR_PORT,
        persistentKeepalive: options.persistentKeepalive,
        mtu: options.mtu,
      }),
    );
    const pair: TunnelPair = {
      topology,
      ours: { name, keys: ourKeys, file, process: undefined as unknown as Spawned, psk },
      theirs: { ...theirs, keys: theirKeys },
      ourShow: (field) => wgShow(topology.a.ns, name, field),
      startOurs: async () => {
        const runner = spawnIn(
          topology.a.ns,
          process.execPath,
          [options.runner ?? RUNNER, 'tunnel', file, ...(options.runnerArgs ?? [])],
          {
            env: { ...process.env, ...options.env },
          },
        );
        pair.ours.process = runner;
        await runner.waitForLine(/is up/, 10_000);
        return runner;
      },
      destroy: async () => {
        await pair.ours.process?.stop();
        await topology.destroy();
        await rm(dir, { recursive: true, force: true });
      },
    };
    await pair.startOurs();
    return pair;
  } catch (error) {
    await topology.destroy();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The same path with wireguard-go on both ends: the reference PhantomMesh is measured against. */
export async function startReferencePair(
  options: { internet?: boolean; quiet?: boolean } = {},
): Promise<{ topology: Topology; keys: { a: KeyPair; b: KeyPair }; destroy(): Promise<void> }> {
  const topology = await createTopology({ internet: options.internet ?? false });
  try {
    const [keysA, keysB] = await Promise.all([genKeyPair(), genKeyPair()]);
    await startWireguardGo(topology.b.ns, uniqueName('pmr'), {
      privateKey: keysB.privateKey,
      listenPort: THEIR_PORT,
      addresses: [`${INNER.theirs4}/24`, `${INNER.theirs6}/64`],
      peers: [{ publicKey: keysA.publicKey, allowedIps: [`${INNER.ours4}/32`, `${INNER.ours6}/128`] }],
    });
    await startWireguardGo(topology.a.ns, uniqueName('pmr'), {
      quiet: options.quiet ?? false,
      privateKey: keysA.privateKey,
      listenPort: OUR_PORT,
      addresses: [`${INNER.ours4}/24`, `${INNER.ours6}/64`],
      peers: [
        {
          publicKey: keysB.publicKey,
          endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
          allowedIps: ['192.0.2.0/24', 'fd00:6::/64'],
        },
      ],
    });
    return { topology, keys: { a: keysA, b: keysB }, destroy: () => topology.destroy() };
  } catch (error) {
    await topology.destroy();
    throw error;
  }
}
