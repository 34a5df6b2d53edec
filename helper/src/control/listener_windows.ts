// The control API's transport on Windows: the named pipe \\.\pipe\phantommesh with a security
// descriptor that admits SYSTEM, Administrators and the "PhantomMesh Users" group
// (pipe-sddl_windows.ts), served by pipe-server_windows.ts; and, as SO_PEERCRED does on Linux, every
// client checked again on the helper's side at its first bytes (peercred_windows.ts). Authorized
// connections are handed on with who is calling; the others get one NOT_AUTHORIZED answer.

import { FrameDecoder } from '../../../shared/src/control/framing.ts';
import { APPLICATION_ERROR, NOT_AUTHORIZED } from '../../../shared/src/control/protocol.ts';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionSlots, MAX_CONNECTIONS } from './connection-slots.ts';
import type { CallerListener, ListenerOptions } from './listener.ts';
import { groupSid, identifyClient, rememberClient } from './peercred_windows.ts';
import { controlPipeSddl } from './pipe-sddl_windows.ts';
import { listenPipe, type PipeConnection } from './pipe-server_windows.ts';
import { endWithError, idOf, type Id } from './reply.ts';

const TOO_MANY_CONNECTIONS = 'TOO_MANY_CONNECTIONS';

/** Answers the first request with the refusal, then ends the connection. */
function refuse(stream: Duplex, first: Buffer, message: string, code: string): void {
  const decoder = new FrameDecoder();
  const answer = (chunk: Buffer) => {
    const [body] = decoder.push(chunk);
    if (!body && !decoder.error) return false;
    let id: Id = null;
    try {
      id = idOf(JSON.parse(body?.toString('utf8') ?? 'null'));
    } catch {
      // Unmatched, all the same.
    }
    endWithError(stream as Socket, id, APPLICATION_ERROR, code, message);
    return true;
  };
  if (answer(first)) return;
  const onData = (chunk: Buffer) => {
    if (answer(chunk)) stream.off('data', onData);
  };
  stream.on('data', onData);
}

export async function listenForCallersWindows(options: ListenerOptions): Promise<CallerListener> {
  const { socketPath, group, onCaller, log } = options;
  const sid = groupSid(group);
  if (sid === null)
    log(`control: group "${group}" does not exist, so only administrators can use ${socketPath}`);
  const whoMay =
    sid === null
      ? `only administrators may (there is no group "${group}")`
      : `only administrators and members of the group "${group}" may`;
  const slots = new ConnectionSlots();
  let closing = false;

  const authorize = (connection: PipeConnection, first: Buffer): void => {
    const client = identifyClient(connection, sid);
    rememberClient(connection, client);
    const { uid, pid } = client;
    if (!client.isAdmin && !client.inGroup) {
      log(`control: refused ${client.sid} (pid ${pid}): not an administrator and not in "${group}"`);
      refuse(
        connection,
        first,
        `${client.sid} may not control the PhantomMesh helper: ${whoMay}`,
        NOT_AUTHORIZED,
      );
      return;
    }
    if (closing) return;
    const slot = slots.take(uid);
    if (typeof slot === 'string') {
      log(`control: refused ${client.sid} (pid ${pid}): ${slot}`);
      refuse(connection, first, slot, TOO_MANY_CONNECTIONS);
      return;
    }
    connection.once('close', slot);
    // The bytes already read go back in front, for the session to read first.
    connection.unshift(first);
    onCaller(connection as unknown as Socket, { uid, gid: 0, pid, isRoot: client.isAdmin });
  };

  let open = 0;
  const server = await listenPipe(socketPath, controlPipeSddl(sid), (connection) => {
    if (open >= MAX_CONNECTIONS) {
      log(`control: refused a connection: already ${MAX_CONNECTIONS} open`);
      connection.destroy();
      return;
    }
    open++;
    connection.on('close', () => open--);
    connection.on('error', () => {});
    // Windows lets the server impersonate its client only once it has read from the pipe.
    connection.once('data', (first: Buffer) => {
      connection.pause();
      try {
        authorize(connection, first);
      } catch (error) {
        log(`control: cannot check a client, closing it: ${(error as Error).message}`);
        connection.destroy();
      }
    });
  });

  return {
    path: socketPath,
    close: async () => {
      closing = true;
      await server.close();
    },
  };
}
