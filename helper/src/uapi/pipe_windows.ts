// The UAPI's transport on Windows (the seam is uapi/server.ts, which speaks the protocol on whatever
// stream this hands it, as on Linux): wireguard-go's pipe \\.\pipe\ProtectedPrefix\Administrators\
// WireGuard\NAME, with wireguard-go's security descriptor (ipc/uapi_windows.go, UAPI_PIPE_SDDL:
// SYSTEM and Administrators full control, nothing for anyone else, nothing inherited). It is served by
// the control API's own pipe server (control/pipe-server_windows.ts): Node's net.Server would create
// the pipe with the default descriptor, which lets Everyone read it. Under ProtectedPrefix only
// administrators may create a pipe at all, and the first instance is created with
// FILE_FLAG_FIRST_PIPE_INSTANCE, so nobody can serve the name before the helper or beside it. Each
// client is identified at its first bytes as the control API's are and must be SYSTEM or an elevated
// administrator, which the descriptor already demands: a second check, as SO_PEERCRED is on Linux
// behind the socket file's mode. Never run on Windows yet.

import type { Duplex } from 'node:stream';
import { PhantomError } from '../../../shared/src/errors.ts';
import { identifyClient } from '../control/peercred_windows.ts';
import { UAPI_PIPE_SDDL } from '../control/pipe-sddl_windows.ts';
import { listenPipe, type PipeConnection } from '../control/pipe-server_windows.ts';

/** wireguard-go's pipe for the interface `name` (already checked against the interface-name rule). */
export function uapiPipePath(name: string): string {
  return `\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\${name}`;
}

/** Who may use a UAPI pipe: what its descriptor admits (SYSTEM, Administrators enabled in the token). */
export function uapiClientAllowed(client: { isAdmin: boolean }): boolean {
  return client.isAdmin;
}

/** Who a client is, as identifyClient (control/peercred_windows.ts) tells it. */
export interface UapiClient {
  sid: string;
  pid: number;
  isAdmin: boolean;
}

/**
 * Waits for a connection's first bytes (Windows lets the server impersonate its client only once it
 * has read from the pipe), then asks `identify` who the client is: an allowed client's stream goes to
 * `onConnection` with those bytes put back in front; any other, or one that cannot be identified or
 * leaves without a word, is destroyed.
 */
export function admitAtFirstBytes<C extends Duplex>(
  connection: C,
  identify: (connection: C) => UapiClient,
  onConnection: (stream: Duplex) => void,
  log: (line: string) => void,
): void {
  connection.on('error', () => {});
  // The stream allows half-open pipes: a client gone before saying anything is closed here.
  const silent = () => connection.destroy();
  connection.once('end', silent);
  connection.once('data', (first: Buffer) => {
    connection.pause();
    connection.off('end', silent);
    let client: UapiClient;
    try {
      client = identify(connection);
    } catch (error) {
      log(`UAPI: cannot check a client, closing it: ${(error as Error).message}`);
      connection.destroy();
      return;
    }
    if (!uapiClientAllowed(client)) {
      log(`UAPI: refused ${client.sid} (pid ${client.pid}): not SYSTEM or an elevated administrator`);
      connection.destroy();
      return;
    }
    connection.unshift(first);
    onConnection(connection);
  });
}

export interface UapiPipeListener {
  close(): Promise<void>;
}

/**
 * Serves the UAPI pipe at `path`; `onConnection` gets each admitted client's stream. A name already
 * served (or a process that may not create it) is INTERFACE_EXISTS.
 */
export async function listenUapiPipe(
  path: string,
  onConnection: (stream: Duplex) => void,
  log: (line: string) => void,
): Promise<UapiPipeListener> {
  const identify = (connection: PipeConnection) => identifyClient(connection, null);
  try {
    return await listenPipe(path, UAPI_PIPE_SDDL, (connection) =>
      admitAtFirstBytes(connection, identify, onConnection, log),
    );
  } catch (error) {
    if (error instanceof PhantomError && error.code === 'HELPER_RUNNING')
      throw new PhantomError(
        'INTERFACE_EXISTS',
        `${path} is already served (or this process is not an administrator, who alone may create it)`,
      );
    throw error;
  }
}
