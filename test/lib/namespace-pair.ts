// Two network namespaces joined by a veth pair, for tests that share the machine with others' tests and
// so carry their own prefix (the lab's createTopology() names its namespaces pm-*): PREFIX-s-XXXXXX
// (the server side, veth PREFIXv-s, address .2 / ::2) and PREFIX-c-XXXXXX (the client side, veth
// PREFIXv-c, address .1 / ::1). Both are deleted by destroy(), or at the latest when the process exits.

import { addNamespace, addVethPair, deleteNamespace, execIn, uniqueName } from './netns.ts';

export interface NamespacePairOptions {
  /** The names' prefix: 'rl' gives rl-s-XXXXXX and rl-c-XXXXXX, joined by rlv-s and rlv-c. */
  prefix: string;
  /** The /24's first three bytes, e.g. '198.51.100'. */
  ipv4: string;
  /** A /64 ending in '::', e.g. 'fd00:7274::'. */
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
  const destroy = async (): Promise<void> => {
    await Promise.allSettled(made.map((ns) => deleteNamespace(ns)));
  };
  try {
    for (const ns of [server, client]) {
      await addNamespace(ns);
      made.push(ns);
    }
    const [serverVeth, clientVeth] = [`${prefix}v-s`, `${prefix}v-c`];
    await addVethPair({ ns: client, veth: clientVeth }, { ns: server, veth: serverVeth });
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
