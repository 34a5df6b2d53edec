// Two network namespaces for the relay's tests, named rl-s-XXXXXX (the WireGuard server and the
// relay) and rl-c-XXXXXX (the client), joined by a veth pair: 198.51.100.2/24 on the server side,
// 198.51.100.1/24 on the client side. The lab's createTopology() names its namespaces pm-*; the
// relay's tests share the machine with others' tests, so theirs carry their own prefix.
//
// The client's UDP to the server can be blocked with nftables (blockUdp), which proves that
// traffic went through the relay and not around it.

import { execFileSync } from 'node:child_process';
import { exec, execIn, uniqueName } from './netns.ts';

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
  const server = uniqueName('rl-s-');
  const client = uniqueName('rl-c-');
  const made: string[] = [];
  const removeSync = (): void => {
    for (const ns of made) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
  };
  process.on('exit', removeSync);
  const destroy = async (): Promise<void> => {
    process.off('exit', removeSync);
    await Promise.allSettled(made.map((ns) => exec('ip', ['netns', 'del', ns])));
  };
  try {
    for (const ns of [server, client]) {
      await exec('ip', ['netns', 'add', ns]);
      made.push(ns);
      await execIn(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    await exec('ip', [
      'link',
      'add',
      'rlv-c',
      'netns',
      client,
      'type',
      'veth',
      'peer',
      'name',
      'rlv-s',
      'netns',
      server,
    ]);
    await execIn(server, 'ip', ['address', 'add', '198.51.100.2/24', 'dev', 'rlv-s']);
    await execIn(client, 'ip', ['address', 'add', '198.51.100.1/24', 'dev', 'rlv-c']);
    await execIn(server, 'ip', ['link', 'set', 'rlv-s', 'up']);
    await execIn(client, 'ip', ['link', 'set', 'rlv-c', 'up']);
  } catch (error) {
    await destroy();
    throw error;
  }
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
