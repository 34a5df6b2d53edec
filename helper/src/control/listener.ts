// The control socket's transport and authorization: a Unix socket that only root and members of one
// group may use, which the socket file's mode enforces at connect() and SO_PEERCRED checks again on
// every connection. Authorized connections are handed on with who is calling; the others get one
// NOT_AUTHORIZED answer and are closed.

import { chmod, chown, mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PhantomError } from '../../../shared/src/errors.ts';
import { FrameDecoder } from '../../../shared/src/control/framing.ts';
import { APPLICATION_ERROR, NOT_AUTHORIZED } from '../../../shared/src/control/protocol.ts';
import { claimSocketPath, listenPrivately } from '../unix-listen.ts';
import { ConnectionSlots, MAX_CONNECTIONS } from './connection-slots.ts';
import { groupId, isGroupMember, peerCredentials } from './peercred.ts';
import { listenForCallersWindows } from './listener_windows.ts';
import { endWithError, idOf, type Id } from './reply.ts';

export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  isRoot: boolean;
}

export interface ListenerOptions {
  socketPath: string;
  /** Members of this group may connect; if it does not exist, only root may. */
  group: string;
  /** Takes over an authorized connection (not called once the listener is closing). */
  onCaller: (socket: Socket, caller: Caller) => void;
  log: (line: string) => void;
}

export interface CallerListener {
  path: string;
  /** Ends every connection and stops listening (which removes the socket file). */
  close(): Promise<void>;
}

/** Born 0600 root:root (see listenPrivately), then given to the group and opened to it. */
async function listen(server: Server, path: string, gid: number | null): Promise<void> {
  await listenPrivately(server, path);
  if (gid === null) {
    await chmod(path, 0o600);
    return;
  }
  await chown(path, 0, gid);
  await chmod(path, 0o660);
}

/** One answer, to the first thing the client sends, then the connection is closed. */
/** The error code of a refusal for want of a free slot (the caller may try again later). */
const TOO_MANY_CONNECTIONS = 'TOO_MANY_CONNECTIONS';

function refuse(socket: Socket, message: string, code: string = NOT_AUTHORIZED): void {
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    const [body] = decoder.push(chunk);
    if (!body && !decoder.error) return;
    socket.removeAllListeners('data');
    let id: Id = null;
    try {
      id = idOf(JSON.parse(body?.toString('utf8') ?? 'null'));
    } catch {
      // The refusal goes out all the same, unmatched.
    }
    endWithError(socket, id, APPLICATION_ERROR, code, message);
  });
}

export async function listenForCallers(options: ListenerOptions): Promise<CallerListener> {
  // Windows: a named pipe with its own security descriptor and token checks (listener_windows.ts).
  if (process.platform === 'win32') return listenForCallersWindows(options);
  const { socketPath, group, onCaller, log } = options;
  const gid = await groupId(group);
  if (gid === null) log(`control: group ${group} does not exist, so only root can use ${socketPath}`);
  const whoMay =
    gid === null
      ? `only root may (there is no group "${group}")`
      : `only root and members of group "${group}" may`;

  const connections = new Set<Socket>();
  const slots = new ConnectionSlots();
  let closing = false;

  const authorize = async (socket: Socket): Promise<void> => {
    const { uid, gid: callerGid, pid } = peerCredentials(socket);
    const isRoot = uid === 0;
    if (isRoot || (gid !== null && (await isGroupMember(uid, gid)))) {
      if (closing) return;
      const slot = slots.take(uid);
      if (typeof slot === 'string') {
        log(`control: refused uid ${uid} (pid ${pid}): ${slot}`);
        refuse(socket, slot, TOO_MANY_CONNECTIONS);
        return;
      }
      socket.once('close', slot);
      onCaller(socket, { uid, gid: callerGid, pid, isRoot });
      return;
    }
    log(`control: refused uid ${uid} (pid ${pid}): not root and not in group ${group}`);
    refuse(socket, `uid ${uid} may not control the PhantomMesh helper: ${whoMay}`);
  };

  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  if (await claimSocketPath(socketPath))
    throw new PhantomError('HELPER_RUNNING', `another helper is already serving ${socketPath}`);
  const server = createServer((socket) => {
    connections.add(socket);
    // Errors (a peer that vanished) end in 'close', which is all the server needs to know.
    socket.on('error', () => {});
    socket.on('close', () => connections.delete(socket));
    authorize(socket).catch((error: Error) => {
      log(`control: cannot check a client, closing it: ${error.message}`);
      socket.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('drop', () => log(`control: refused a connection: already ${MAX_CONNECTIONS} open`));
  await listen(server, socketPath, gid);
  server.on('error', (error) => log(`control listener: ${error.message}`));

  return {
    path: socketPath,
    close: async () => {
      closing = true;
      for (const socket of connections) socket.destroy();
      // Closing the listener also unlinks the socket file (libuv does it).
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
