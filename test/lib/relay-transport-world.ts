// Two network namespaces for the relay transport's tests, rt-s-XXXXXX (the relay, an echo server
// standing in for WireGuard, squid) and rt-c-XXXXXX (the client), joined by a veth pair:
// 198.18.0.2/24 and fd00:7274::2/64 on the server side, 198.18.0.1/24 and fd00:7274::1/64 on the
// client side. Their own prefix: the machine is shared with other tests' namespaces.

import { execFileSync } from 'node:child_process';
import { exec, execIn, uniqueName } from './netns.ts';

export interface RelayTransportWorld {
  server: string;
  client: string;
  /** Runs nft commands in the client namespace. */
  nft(script: string): Promise<string>;
  /** Deletes both namespaces (what runs inside should be stopped first). */
  destroy(): Promise<void>;
}

export const SERVER_V4 = '198.18.0.2';
export const SERVER_V6 = 'fd00:7274::2';

export async function createRelayTransportWorld(): Promise<RelayTransportWorld> {
  const server = uniqueName('rt-s-');
  const client = uniqueName('rt-c-');
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
      await execIn(ns, 'sysctl', [
        '-q',
        '-w',
        'net.ipv6.conf.all.accept_dad=0',
        'net.ipv6.conf.default.accept_dad=0',
      ]);
      await execIn(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    await exec('ip', [
      'link',
      'add',
      'rtv-c',
      'netns',
      client,
      'type',
      'veth',
      'peer',
      'name',
      'rtv-s',
      'netns',
      server,
    ]);
    for (const [ns, dev, last] of [
      [server, 'rtv-s', 2],
      [client, 'rtv-c', 1],
    ] as const) {
      await execIn(ns, 'ip', ['address', 'add', `198.18.0.${last}/24`, 'dev', dev]);
      await execIn(ns, 'ip', ['address', 'add', `fd00:7274::${last}/64`, 'dev', dev, 'nodad']);
      await execIn(ns, 'ip', ['link', 'set', dev, 'up']);
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    server,
    client,
    nft: (script) => execIn(client, 'nft', [script]),
    destroy,
  };
}
