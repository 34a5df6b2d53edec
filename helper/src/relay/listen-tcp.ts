// tcp:// listeners: every accepted connection is one client speaking the 2-byte framing.

import { createServer, type Server } from 'node:net';
import type { RelayUrl } from '../transport/relay-url.ts';
import type { RelayContext } from './relay-context.ts';
import { TcpLink } from './tcp-link.ts';

export function listenTcp(_url: RelayUrl, relay: RelayContext): Server {
  const server = createServer({ noDelay: true });
  server.on('connection', (socket) => {
    if (!relay.admit(socket)) return;
    void relay.attach(new TcpLink(socket, relay.limits.maxDatagram, relay.limits.maxBuffered));
  });
  return server;
}
