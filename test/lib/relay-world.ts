// Two network namespaces for the relay's tests, named rl-s-XXXXXX (the WireGuard server and the
// relay) and rl-c-XXXXXX (the client), joined by a veth pair: 198.51.100.2/24 on the server side,
// 198.51.100.1/24 on the client side. The lab's createTopology() names its namespaces pm-*; the
// relay's tests share the machine with others' tests, so theirs carry their own prefix.
//
// The client's UDP to the server can be blocked with nftables (blockUdp), which proves that
// traffic went through the relay and not around it.

import { createNamespacePair } from './namespace-pair.ts';
import { execIn } from './netns.ts';

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
