// A client of the helper's control socket, for the `phantommesh` CLI and the app's main process.
//
// Like Mullvad's GUI (verifyOwnership) it checks who it talks to before saying anything: the socket
// file must be owned by root, which only root can arrange, so an unprivileged process that got to the
// path first cannot pose as the helper and collect the configurations the user imports.

import { lstat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { PhantomError } from '../errors.ts';
import { encodeFrame, FrameDecoder } from './framing.ts';
import {
  APPLICATION_ERROR,
  describeIssues,
  ErrorObject,
  EVENT_METHOD,
  HelperEvent,
  methods,
  PROTOCOL_VERSION,
  VERSION_MISMATCH,
  type MethodName,
  type Params,
  type Result,
} from './protocol.ts';

/** A hello the helper does not answer in this time means it is stuck; better to say so than hang. */
const HELLO_TIMEOUT_MS = 10_000;

/** An error reply from the helper. `code` is its data.code: a PhantomError code or a protocol one. */
export class HelperError extends PhantomError {
  /** The JSON-RPC error code. */
  readonly rpcCode: number;
  /** For CONFIG_INVALID: the 1-based line of the configuration text and the key on it, if any. */
  readonly line: number | undefined;
  readonly key: string | undefined;
  /** For VERSION_MISMATCH: the helper's protocol version. */
  readonly protocolVersion: number | undefined;
  constructor(error: ErrorObject) {
    super(error.data.code, error.message);
    this.name = 'HelperError';
    this.rpcCode = error.code;
    this.line = error.data.line;
    this.key = error.data.key;
    this.protocolVersion = error.data.protocolVersion;
  }
}

export interface HelperClient {
  call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
  /** Events arrive after `events.subscribe`. Returns the unsubscribe function. */
  onEvent(listener: (event: HelperEvent) => void): () => void;
  close(): void;
  /** Settles when the connection ends: null after close(), else why it ended. */
  closed: Promise<Error | null>;
}

export interface ConnectOptions {
  socketPath: string;
  /** Who is asking, for the helper's log (e.g. 'phantommesh-cli', 'phantommesh-app 0.1.0'). */
  client: string;
  /** Refuse a socket not owned by root. Default true; tests against a helper run by a user turn it off. */
  checkOwner?: boolean;
  /**
   * Opens the connection in place of node:net and checks, before anything is sent, that the helper is
   * at the other end; rejecting refuses (having closed whatever it opened). Windows needs it: the
   * control pipe is no file whose owner could be checked, and Node's pipe client has no handle to ask
   * who serves it, so the CLI and the app open \\.\pipe\phantommesh themselves and check that the
   * server process runs as LocalSystem (pipe-server-check.ts). Given, it replaces the socket-file check.
   */
  openVerified?: (path: string) => Promise<Socket>;
}

/** The socket (or its directory) is closed to this user: the kernel enforces the group. */
function accessDenied(path: string): PhantomError {
  return new PhantomError(
    'NOT_AUTHORIZED',
    `permission denied on ${path}: only root and members of its group may use the helper`,
  );
}

async function checkSocket(path: string, checkOwner: boolean): Promise<void> {
  const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new PhantomError('HELPER_UNAVAILABLE', `${path} does not exist`);
    if (error.code === 'EACCES') throw accessDenied(path);
    throw error;
  });
  if (!info.isSocket()) throw new PhantomError('HELPER_UNTRUSTED', `${path} is not a socket`);
  if (checkOwner && info.uid !== 0)
    throw new PhantomError(
      'HELPER_UNTRUSTED',
      `${path} belongs to uid ${info.uid}, not root, so it is not the PhantomMesh helper; not using it`,
    );
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EACCES') reject(accessDenied(path));
      else if (error.code === 'ECONNREFUSED')
        reject(new PhantomError('HELPER_UNAVAILABLE', `nothing is listening on ${path}`));
      else reject(error);
    });
  });
}

/** "helper out of date: it speaks protocol 0, this client 1", or the other way round. */
function mismatch(rpcCode: number, helperVersion: number): HelperError {
  const message =
    helperVersion < PROTOCOL_VERSION
      ? `helper out of date: it speaks protocol ${helperVersion}, this client ${PROTOCOL_VERSION}`
      : `client out of date: the helper speaks protocol ${helperVersion}, this client ${PROTOCOL_VERSION}`;
  return new HelperError({
    code: rpcCode,
    message,
    data: { code: VERSION_MISMATCH, protocolVersion: helperVersion },
  });
}

/**
 * An error reply as people should read it. The helper words protocol errors for its log, after the
 * method ("tunnels.connect: name: ..."); a method name means nothing to the user of a CLI or an app.
 */
function forPeople(method: MethodName, error: ErrorObject): ErrorObject {
  if (error.data.code === 'METHOD_NOT_FOUND')
    return { ...error, message: 'the helper does not know this request: it is older than this client' };
  const prefix = `${method}: `;
  return error.message.startsWith(prefix) ? { ...error, message: error.message.slice(prefix.length) } : error;
}

interface Pending {
  method: MethodName;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export async function connectHelper(options: ConnectOptions): Promise<HelperClient> {
  let socket: Socket;
  if (options.openVerified) socket = await options.openVerified(options.socketPath);
  else {
    await checkSocket(options.socketPath, options.checkOwner ?? true);
    socket = await open(options.socketPath);
  }

  const pending = new Map<number, Pending>();
  const listeners = new Set<(event: HelperEvent) => void>();
  const decoder = new FrameDecoder();
  let nextId = 1;
  let ended: Error | null | undefined;
  let settleClosed!: (reason: Error | null) => void;
  const closed = new Promise<Error | null>((resolve) => (settleClosed = resolve));

  const end = (reason: Error | null): void => {
    if (ended !== undefined) return;
    ended = reason;
    socket.destroy();
    const error = reason ?? new PhantomError('HELPER_DISCONNECTED', 'the connection to the helper is closed');
    for (const call of pending.values()) call.reject(error);
    pending.clear();
    settleClosed(reason);
  };
  /** The helper broke the protocol: nothing it sends after this can be trusted to line up. */
  const protocolError = (problem: string) =>
    end(new PhantomError('HELPER_PROTOCOL', `the helper sent ${problem}`));

  const handleMessage = (message: Record<string, unknown>): void => {
    if (message.method === EVENT_METHOD && !('id' in message)) {
      const event = HelperEvent.safeParse(message.params);
      if (!event.success)
        return protocolError(`an event outside the protocol: ${describeIssues(event.error)}`);
      // Each listener in its own task: one that throws is reported as usual and stops nobody else.
      for (const listener of listeners) queueMicrotask(() => listener(event.data));
      return;
    }
    if ('error' in message) {
      const error = ErrorObject.safeParse(message.error);
      if (!error.success)
        return protocolError(`an error outside the protocol: ${describeIssues(error.error)}`);
      const call = typeof message.id === 'number' ? pending.get(message.id) : undefined;
      // An error for no request ends the connection: the helper closes it after one.
      if (!call) return end(new HelperError(error.data));
      pending.delete(message.id as number);
      call.reject(new HelperError(forPeople(call.method, error.data)));
      return;
    }
    const call = typeof message.id === 'number' ? pending.get(message.id) : undefined;
    if (!call || !('result' in message)) return protocolError('a reply to no request');
    pending.delete(message.id as number);
    const result = methods[call.method].result.safeParse(message.result);
    if (result.success) call.resolve(result.data);
    else
      call.reject(
        new PhantomError(
          'HELPER_PROTOCOL',
          `the helper's answer does not fit the protocol: ${describeIssues(result.error)}`,
        ),
      );
  };

  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) {
      if (ended !== undefined) return;
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch {
        return protocolError('a message that is not JSON');
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message))
        return protocolError('a message that is not a JSON-RPC object');
      handleMessage(message as Record<string, unknown>);
    }
    if (decoder.error) protocolError(`a message too large: ${decoder.error.message}`);
  });
  // A helper that stops (an upgrade, systemctl stop) may reset the connection instead of closing it:
  // that is the helper going away too, not an error of its own.
  socket.on('error', (error: NodeJS.ErrnoException) =>
    end(
      error.code === 'ECONNRESET' || error.code === 'EPIPE'
        ? new PhantomError('HELPER_DISCONNECTED', 'the helper closed the connection')
        : error,
    ),
  );
  socket.on('close', () => end(new PhantomError('HELPER_DISCONNECTED', 'the helper closed the connection')));

  const client: HelperClient = {
    call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
      return new Promise<Result<M>>((resolve, reject) => {
        if (ended !== undefined) {
          reject(ended ?? new PhantomError('HELPER_DISCONNECTED', 'the connection to the helper is closed'));
          return;
        }
        const id = nextId++;
        let frame: Buffer;
        try {
          frame = encodeFrame({ jsonrpc: '2.0', id, method, params });
        } catch (error) {
          reject(error as Error);
          return;
        }
        pending.set(id, { method, resolve: resolve as (result: unknown) => void, reject });
        socket.write(frame);
      });
    },
    onEvent(listener) {
      // A wrapper, so that the same function added twice is two subscriptions, removed one at a time.
      const wrapped = (event: HelperEvent) => listener(event);
      listeners.add(wrapped);
      return () => listeners.delete(wrapped);
    },
    close: () => end(null),
    closed,
  };

  const timer = setTimeout(
    () =>
      end(
        new PhantomError(
          'HELPER_UNAVAILABLE',
          `the helper did not answer within ${HELLO_TIMEOUT_MS / 1000} s`,
        ),
      ),
    HELLO_TIMEOUT_MS,
  );
  try {
    const hello = await client.call('hello', { protocolVersion: PROTOCOL_VERSION, client: options.client });
    if (hello.protocolVersion !== PROTOCOL_VERSION) throw mismatch(APPLICATION_ERROR, hello.protocolVersion);
    return client;
  } catch (error) {
    client.close();
    // The helper words it from its side; say it from ours.
    if (
      error instanceof HelperError &&
      error.code === VERSION_MISMATCH &&
      error.protocolVersion !== undefined
    )
      throw mismatch(error.rpcCode, error.protocolVersion);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
