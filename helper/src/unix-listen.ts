// Listening on a Unix socket that nobody else can reach, not even for a moment: whoever can connect
// to the helper's sockets controls tunnels. listen() binds synchronously, so a umask of 077 around
// it covers the window between bind() and a later chmod/chown (wireguard-go does the same).

import { lstat, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { PhantomError } from '../../shared/src/errors.ts';

export function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o077);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
}

/**
 * Makes `path` free for listening: a socket nobody answers on was left by a dead process and is
 * removed (as wireguard-go does). Returns true, removing nothing, when a live process serves it.
 */
export async function claimSocketPath(path: string): Promise<boolean> {
  const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!info) return false;
  if (!info.isSocket())
    throw new PhantomError('SOCKET_PATH_TAKEN', `${path} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = connect(path);
    probe.on('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNREFUSED' ? resolve(false) : reject(error),
    );
  });
  if (!live) await unlink(path);
  return live;
}
