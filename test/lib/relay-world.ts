// Two network namespaces for the relay's tests, named rl-s-XXXXXX (the WireGuard server and the
// relay) and rl-c-XXXXXX (the client), joined by a veth pair: 198.51.100.2/24 on the server side,
// 198.51.100.1/24 on the client side. The lab's createTopology() names its namespaces pm-*; the
// relay's tests share the machine with others' tests, so theirs carry their own prefix.
//
// The client's UDP to the server can be blocked with nftables (blockUdp), which proves that
// traffic went through the relay and not around it.
//
// startRelayServerSide() is the setup relay.test.ts and transport-service.test.ts share: this world,
// a test PKI for the server's address, and a stock wireguard-go server behind where the relay goes.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespacePair } from './namespace-pair.ts';
import {
  execIn,
  genKeyPair,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Spawned,
  type WireguardGo,
} from './netns.ts';
import { startNginx } from './proxies.ts';
import { makeTestPki, type TestPki } from './test-certs.ts';

export interface RelayWorld {
  server: string;
  client: string;
  serverAddress: string;
  clientAddress: string;
  /** Drops every UDP packet from the client namespace to the server's address. */
  blockUdp(): Promise<void>;
  /** Lets UDP through again (undoes blockUdp; nothing when it was not blocked). */
  unblockUdp(): Promise<void>;
  /** Deletes both namespaces (what runs inside should be stopped first). */
  destroy(): Promise<void>;
}

export async function createRelayWorld(): Promise<RelayWorld> {
  const { server, client, destroy } = await createNamespacePair({ prefix: 'rl', ipv4: '198.51.100' });
  return {
    server,
    client,
    serverAddress: '198.51.100.2',
    clientAddress: '198.51.100.1',
    blockUdp: async () => {
      await execIn(client, 'nft', [
        'add table inet rl_block; ' +
          'add chain inet rl_block out { type filter hook output priority 0; policy accept; }; ' +
          'add rule inet rl_block out ip daddr 198.51.100.2 meta l4proto udp counter drop',
      ]);
    },
    unblockUdp: async () => {
      await execIn(client, 'nft', ['delete table inet rl_block']).catch(() => undefined);
    },
    destroy,
  };
}

export interface RelayServerSide {
  world: RelayWorld;
  /** The test's own temp directory (the PKI, nginx's files). */
  dir: string;
  /** Its server certificate is for the server's address. */
  pki: TestPki;
  /** The client's keys (192.0.2.1) and the server's (192.0.2.2). */
  ours: KeyPair;
  theirs: KeyPair;
  /** wireguard-go in the server namespace on UDP 51820, 192.0.2.2/24, one peer: ours at 192.0.2.1/32. */
  server: WireguardGo;
  /** Debian's nginx on the server's address, TLS with client certificates from the PKI's CA,
   *  proxying the WebSocket to `upstream` (the relay's ws://). */
  startNginx(port: number, upstream: string): Promise<Spawned>;
  /** Stops the server, deletes the namespaces and the directory (stop what else runs first). */
  destroy(): Promise<void>;
}

/**
 * A relay world with the client's UDP to the server blocked, a PKI in a new temp directory
 * (`tempPrefix`), and the WireGuard server (interface `serverName`-XXXXXX) the relay forwards to.
 */
export async function startRelayServerSide(tempPrefix: string, serverName: string): Promise<RelayServerSide> {
  const dir = await mkdtemp(join(tmpdir(), tempPrefix));
  let world: RelayWorld | undefined;
  let server: WireguardGo | undefined;
  const destroy = async (): Promise<void> => {
    await server?.stop();
    await world?.destroy();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    world = await createRelayWorld();
    const pki = await makeTestPki(dir, [world.serverAddress]);
    const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
    server = await startWireguardGo(world.server, uniqueName(serverName), {
      privateKey: theirs.privateKey,
      listenPort: 51820,
      addresses: ['192.0.2.2/24'],
      peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
    });
    await world.blockUdp();
    const { server: ns, serverAddress } = world;
    return {
      world,
      dir,
      pki,
      ours,
      theirs,
      server,
      startNginx: (port, upstream) =>
        startNginx(ns, {
          dir,
          address: serverAddress,
          port,
          cert: pki.serverCert,
          key: pki.serverKey,
          clientCa: pki.ca,
          upstream,
        }),
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
