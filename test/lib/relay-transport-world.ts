// Two network namespaces for the relay transport's tests, rt-s-XXXXXX (the relay, an echo server
// standing in for WireGuard, squid) and rt-c-XXXXXX (the client), joined by a veth pair:
// 198.18.0.2/24 and fd00:7274::2/64 on the server side, 198.18.0.1/24 and fd00:7274::1/64 on the
// client side. Their own prefix: the machine is shared with other tests' namespaces.

import { createNamespacePair } from './namespace-pair.ts';
import { execIn } from './netns.ts';

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
  const { server, client, destroy } = await createNamespacePair({
    prefix: 'rt',
    ipv4: '198.18.0',
    ipv6: 'fd00:7274::',
  });
  return {
    server,
    client,
    nft: (script) => execIn(client, 'nft', [script]),
    destroy,
  };
}
