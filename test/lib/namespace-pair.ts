// Two network namespaces joined by a veth pair, for tests that share the machine with others' tests and
// so carry their own prefix (the lab's createTopology() names its namespaces pm-*): PREFIX-s-XXXXXX
// (the server side, veth PREFIXv-s, address .2 / ::2) and PREFIX-c-XXXXXX (the client side, veth
// PREFIXv-c, address .1 / ::1). Both are deleted by destroy(), or at the latest when the process exits.

import { execFileSync } from 'node:child_process';
import { exec, execIn, uniqueName } from './netns.ts';

export interface NamespacePairOptions {
  /** The names' prefix: 'rl' gives rl-s-XXXXXX and rl-c-XXXXXX, joined by rlv-s and rlv-c. */
  prefix: string;
  /** The /24's first three bytes, e.g. '198.51.100'. */
  ipv4: string;
  /** A /64 ending in '::', e.g. 'fd00:7274::'; with it, IPv6 addresses are usable at once (no DAD). */
  ipv6?: string;
}

export interface NamespacePair {
  server: string;
  client: string;
  /** Deletes both namespaces (what runs inside should be stopped first). */
  destroy(): Promise<void>;
}

export async function createNamespacePair(options: NamespacePairOptions): Promise<NamespacePair> {
  const { prefix, ipv4, ipv6 } = options;
  const server = uniqueName(`${prefix}-s-`);
  const client = uniqueName(`${prefix}-c-`);
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
      if (ipv6 !== undefined)
        await execIn(ns, 'sysctl', [
          '-q',
          '-w',
          'net.ipv6.conf.all.accept_dad=0',
          'net.ipv6.conf.default.accept_dad=0',
        ]);
      await execIn(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    const [serverVeth, clientVeth] = [`${prefix}v-s`, `${prefix}v-c`];
    await exec('ip', [
      'link',
      'add',
      clientVeth,
      'netns',
      client,
      'type',
      'veth',
      'peer',
      'name',
      serverVeth,
      'netns',
      server,
    ]);
    for (const [ns, dev, last] of [
      [server, serverVeth, 2],
      [client, clientVeth, 1],
    ] as const) {
      await execIn(ns, 'ip', ['address', 'add', `${ipv4}.${last}/24`, 'dev', dev]);
      if (ipv6 !== undefined)
        await execIn(ns, 'ip', ['address', 'add', `${ipv6}${last}/64`, 'dev', dev, 'nodad']);
      await execIn(ns, 'ip', ['link', 'set', dev, 'up']);
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return { server, client, destroy };
}
