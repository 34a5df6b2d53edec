// The WireGuard server as the relay sees it: one UDP socket per client connection, connected to
// --to, so the server sees each client as its own UDP source port (its roaming and its cookies work
// per client, as for direct clients) and only the server's answers come back on it.

import { createSocket, type Socket } from 'node:dgram';

export interface UpstreamAddress {
  /** An IP literal: --to is resolved once, at start. */
  address: string;
  port: number;
  family: 4 | 6;
}

/** A UDP socket connected to `to`; rejects when it cannot be (no route, no address of that family). */
export function openUpstream(to: UpstreamAddress): Promise<Socket> {
  const socket = createSocket({ type: to.family === 6 ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', failed);
    socket.connect(to.port, to.address, () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
}
