// The UAPI socket /var/run/wireguard/NAME.sock, where `wg` finds userspace implementations
// (wireguard-go ipc/uapi_unix.go and device/uapi.go IpcHandle). A seam for its transport only: on
// Windows the same protocol is served on wireguard-go's named pipe, with wireguard-go's security
// descriptor, by uapi/pipe_windows.ts.

import { INTERFACE_NAME_RULE, isInterfaceName } from '../../../shared/src/interface-name.ts';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatGetResponse, parseSetRequest } from './protocol.ts';
import { UapiError, type UapiDevice } from './types.ts';
import { claimSocketPath, listenPrivately } from '../unix-listen.ts';
import { DeviceConfigError, type DeviceConfigErrorCode } from '../wireguard/config.ts';
import { listenUapiPipe, uapiPipePath } from './pipe_windows.ts';
import { monotonicMs } from '../clock.ts';

const EINVAL = -22;
const EPROTO = -71;
/** ENOANO: wireguard-go's answer to an error it did not classify. */
const EUNKNOWN = -55;

/** The errno wireguard-go answers each of the device's refusals with. */
const DEVICE_ERRNO: Record<DeviceConfigErrorCode, number> = { ADDRESS_IN_USE: -98, INVALID: EINVAL };

function errnoOf(error: unknown): number {
  if (error instanceof UapiError) return error.errno;
  if (error instanceof DeviceConfigError) return DEVICE_ERRNO[error.code];
  return EUNKNOWN;
}

/** Real lines are under 100 bytes; anything near this is not a WireGuard client. */
const MAX_LINE_BYTES = 4096;
/** `wg setconf` with 255*256*2 allowed IPs sends under 8 MB. */
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

export interface UapiServer {
  path: string;
  close(): Promise<void>;
}

/** The shared interface-name rule; it also keeps the socket inside the directory. */
function checkName(name: string): void {
  if (!isInterfaceName(name))
    throw new PhantomError(
      'INTERFACE_NAME_INVALID',
      `${JSON.stringify(name)} is not a valid interface name: ${INTERFACE_NAME_RULE}`,
    );
}

/**
 * Splits the byte stream into requests: lines up to a blank line. A passed limit is yielded as a
 * UapiError, after which the stream cannot be followed any more.
 */
function requestReader() {
  let partial = Buffer.alloc(0);
  let lines: string[] = [];
  let requestBytes = 0;
  return {
    *push(chunk: Buffer): Generator<string[] | UapiError> {
      let start = 0;
      for (let end = chunk.indexOf(10); end !== -1; start = end + 1, end = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, end);
        const bytes = partial.length > 0 ? Buffer.concat([partial, piece]) : piece;
        partial = Buffer.alloc(0);
        requestBytes += bytes.length + 1;
        if (bytes.length > MAX_LINE_BYTES) {
          yield new UapiError(EPROTO, `request line over ${MAX_LINE_BYTES} bytes`);
          return;
        }
        if (requestBytes > MAX_REQUEST_BYTES) {
          yield new UapiError(EPROTO, `request over ${MAX_REQUEST_BYTES} bytes`);
          return;
        }
        const line = bytes.toString();
        if (line !== '') {
          lines.push(line);
          continue;
        }
        if (lines.length > 0) yield lines;
        lines = [];
        requestBytes = 0;
      }
      partial = Buffer.concat([partial, chunk.subarray(start)]);
      if (partial.length > MAX_LINE_BYTES)
        yield new UapiError(EPROTO, `request line over ${MAX_LINE_BYTES} bytes`);
    },
    /** The lines of a request the client ended with EOF instead of a blank line. */
    rest(): string[] {
      const tail = partial.length > 0 ? [partial.toString()] : [];
      return [...lines, ...tail];
    },
  };
}

function send(socket: Duplex, text: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve())));
}

/**
 * Serves WireGuard's UAPI for `name` on DIRECTORY/NAME.sock. Requests from all connections are answered
 * one at a time, in order, like wireguard-go's ipcMutex, so a `get` never sees half of a `set`.
 */
export async function serveUapi(
  name: string,
  device: UapiDevice,
  options: { directory?: string; log?: (line: string) => void; now?: () => number } = {},
): Promise<UapiServer> {
  checkName(name);
  const directory = options.directory ?? '/var/run/wireguard';
  const log = options.log ?? (() => {});
  // The device reads no clock: the monotonic time of a `set=1` comes from here.
  const now = options.now ?? monotonicMs;
  // Windows: wireguard-go's pipe, which only SYSTEM and Administrators may create (ProtectedPrefix)
  // or open (its descriptor), so nobody else can serve it first; a second server for the name fails.
  const windows = process.platform === 'win32';
  const path = windows ? uapiPipePath(name) : join(directory, `${name}.sock`);
  if (!windows) {
    await mkdir(directory, { recursive: true, mode: 0o755 });
    if (await claimSocketPath(path))
      throw new PhantomError('INTERFACE_EXISTS', `${name} is already served at ${path}`);
  }

  const respond = async (request: string[] | UapiError): Promise<string> => {
    try {
      if (request instanceof UapiError) throw request;
      const [operation, ...body] = request;
      if (operation === 'get=1') {
        if (body.length > 0)
          throw new UapiError(EINVAL, `unexpected line after get=1: ${JSON.stringify(body[0])}`);
        return formatGetResponse(device.snapshot());
      }
      if (operation === 'set=1') {
        await device.apply(parseSetRequest(body), now());
        return 'errno=0\n\n';
      }
      throw new UapiError(EPROTO, `unknown operation ${JSON.stringify(operation)}`);
    } catch (error) {
      log(`UAPI: ${error instanceof Error ? error.message : String(error)}`);
      return `errno=${errnoOf(error)}\n\n`;
    }
  };
  let turn = Promise.resolve('');
  const answer = (request: string[] | UapiError) => (turn = turn.then(() => respond(request)));

  let closing = false;
  const connections = new Set<Duplex>();
  const serveConnection = async (socket: Duplex): Promise<void> => {
    const reader = requestReader();
    // Leaving the loop early destroys the socket, after the last answer was written.
    for await (const chunk of socket) {
      for (const request of reader.push(chunk as Buffer)) {
        await send(socket, await answer(request));
        if (request instanceof UapiError) return;
      }
    }
    // wireguard-go also applies a set request ended by EOF; `wg` itself always sends the blank line.
    const rest = reader.rest();
    if (rest.length > 0) await send(socket, await answer(rest));
    socket.end();
  };

  const accept = (socket: Duplex): void => {
    connections.add(socket);
    // Socket errors also reach serveConnection, through the read loop or the write callback.
    socket.on('error', () => {});
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket).catch((error: Error) => {
      if (!closing) log(`UAPI connection: ${error.message}`);
      socket.destroy();
    });
  };
  const listener = windows ? await listenUapiPipe(path, accept, log) : await listenUnix(path, accept, log);

  return {
    path,
    close: async () => {
      closing = true;
      for (const socket of connections) socket.destroy();
      await listener.close();
    },
  };
}

/** The Unix socket at `path`, born 0600 root:root (listenPrivately). */
async function listenUnix(
  path: string,
  accept: (socket: Duplex) => void,
  log: (line: string) => void,
): Promise<{ close(): Promise<void> }> {
  // allowHalfOpen: a client that shuts down its side after a request still gets the answer.
  const server = createServer({ allowHalfOpen: true }, accept);
  await listenPrivately(server, path);
  server.on('error', (error) => log(`UAPI listener: ${error.message}`));
  return {
    // Closing the listener also unlinks the socket file (libuv does it).
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
