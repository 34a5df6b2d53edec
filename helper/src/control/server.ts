// The helper's control socket: JSON-RPC 2.0 in length-prefixed frames (shared/src/control), for the
// app and the `phantommesh` CLI. Only root and members of one group may use it, which the socket
// file's mode enforces at connect() and SO_PEERCRED checks again on every connection.

import { chmod, chown, mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigError, PhantomError } from '../../../shared/src/errors.ts';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../../shared/src/control/framing.ts';
import {
  APPLICATION_ERROR,
  describeIssues,
  EVENT_METHOD,
  HELLO_REQUIRED,
  HelperEvent,
  INTERNAL,
  INVALID_PARAMS,
  INVALID_REQUEST,
  isMethodName,
  METHOD_NOT_FOUND,
  methods,
  NOT_AUTHORIZED,
  PARSE_ERROR,
  PROTOCOL_VERSION,
  RATE_LIMITED,
  Request,
  VERSION_MISMATCH,
  type ErrorObject,
  type MethodName,
  type Params,
  type Result,
} from '../../../shared/src/control/protocol.ts';
import { claimSocketPath, listenPrivately } from '../unix-listen.ts';
import { groupId, isGroupMember, peerCredentials } from './peercred.ts';

/** Per connection: a token bucket far above what a UI or a script needs, far below what hurts. */
const REQUESTS_PER_SECOND = 200;
const REQUEST_BURST = 400;
/** Handlers running for one connection; further requests wait, and the connection is not read meanwhile. */
const MAX_IN_FLIGHT = 32;
/** Past this many unsent bytes a connection is not read until it takes its answers. */
const PAUSE_READING_BYTES = 1024 * 1024;
/** A subscriber this far behind is not reading its events; it is dropped rather than buffered. */
const MAX_EVENT_BACKLOG_BYTES = 4 * 1024 * 1024;
/** Each connection is an fd and up to a frame of buffer; the app and a few CLIs need a handful. */
const MAX_CONNECTIONS = 128;

export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  isRoot: boolean;
}

type ServerMethod = 'hello' | 'events.subscribe';

/** What the daemon implements; `hello` and `events.subscribe` are the server's own. */
export type Handlers = {
  [M in Exclude<MethodName, ServerMethod>]: (params: Params<M>, caller: Caller) => Promise<Result<M>>;
};

export interface ControlOptions {
  socketPath: string;
  /** Members of this group may control the helper; if it does not exist, only root may. */
  group: string;
  handlers: Handlers;
  log: (line: string) => void;
  helperVersion: string;
}

export interface ControlServer {
  path: string;
  /** Sends to every subscribed connection without waiting for any of them. */
  broadcast(event: HelperEvent): void;
  close(): Promise<void>;
}

type Id = number | string | null;
type Reply = { jsonrpc: '2.0'; id: Id } & ({ result: unknown } | { error: ErrorObject });

const errorReply = (id: Id, code: number, dataCode: string, message: string): Reply => ({
  jsonrpc: '2.0',
  id,
  error: { code, message, data: { code: dataCode } },
});

const INTERNAL_ERROR: ErrorObject = {
  code: APPLICATION_ERROR,
  message: 'internal error in the helper; its log has the details',
  data: { code: INTERNAL },
};

/** A request's id if it has a usable one, so even a refusal can be matched to its request. */
function idOf(message: unknown): Id {
  if (typeof message !== 'object' || message === null || !('id' in message)) return null;
  const { id } = message;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
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

function tokenBucket() {
  let tokens = REQUEST_BURST;
  let last = performance.now();
  return (): boolean => {
    const now = performance.now();
    tokens = Math.min(REQUEST_BURST, tokens + ((now - last) * REQUESTS_PER_SECOND) / 1000);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

export async function serveControl(options: ControlOptions): Promise<ControlServer> {
  const { socketPath, group, handlers, log, helperVersion } = options;
  const gid = await groupId(group);
  if (gid === null) log(`control: group ${group} does not exist, so only root can use ${socketPath}`);
  const whoMay =
    gid === null
      ? `only root may (there is no group "${group}")`
      : `only root and members of group "${group}" may`;

  const connections = new Set<Socket>();
  const subscribers = new Set<Socket>();
  let closing = false;

  /** Encodes a reply; one over the frame limit becomes an error reply saying so. */
  const frameOf = (reply: Reply): Buffer => {
    try {
      return encodeFrame(reply);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      log(`control: cannot send a reply: ${error.message}`);
      const message = `the answer is too large to send: ${error.message}`;
      return encodeFrame(errorReply(reply.id, APPLICATION_ERROR, error.code, message));
    }
  };

  /** The error object for a handler's failure: PhantomErrors as they are, anything else hidden. */
  const errorObject = (method: string, error: unknown): ErrorObject => {
    if (error instanceof ConfigError)
      return {
        code: APPLICATION_ERROR,
        message: error.message,
        data: { code: error.code, line: error.line, key: error.key },
      };
    if (error instanceof PhantomError)
      return { code: APPLICATION_ERROR, message: error.message, data: { code: error.code } };
    log(
      `control: ${method} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return INTERNAL_ERROR;
  };

  const serve = (socket: Socket, caller: Caller): void => {
    const decoder = new FrameDecoder();
    const allowRequest = tokenBucket();
    let greeted = false;
    let done = false;
    let inFlight = 0;
    /** Requests past MAX_IN_FLIGHT; at most what the token bucket let through. */
    const waiting: Array<() => void> = [];

    // Backpressure instead of buffering: a client that sends faster than it is answered, or does not
    // read its answers, is simply not read until that changes.
    let paused = false;
    const updateFlow = (): void => {
      const pause = waiting.length > 0 || socket.writableLength > PAUSE_READING_BYTES;
      if (pause === paused) return;
      paused = pause;
      if (pause) socket.pause();
      else socket.resume();
    };
    socket.on('drain', updateFlow);

    const send = (frame: Buffer): void => {
      if (done || !socket.writable) return;
      socket.write(frame);
      updateFlow();
    };
    const reply = (id: Id, result: unknown) => send(frameOf({ jsonrpc: '2.0', id, result }));
    const answerError = (id: Id, error: ErrorObject) => send(frameOf({ jsonrpc: '2.0', id, error }));
    const fail = (id: Id, code: number, dataCode: string, message: string) =>
      send(frameOf(errorReply(id, code, dataCode, message)));
    /** The last answer on a connection whose byte stream cannot be trusted any more. */
    const finish = (id: Id, code: number, dataCode: string, message: string): void => {
      if (done) return;
      done = true;
      subscribers.delete(socket);
      socket.end(encodeFrame(errorReply(id, code, dataCode, message)), () => socket.destroy());
    };

    const run = (id: Id, method: Exclude<MethodName, ServerMethod>, params: unknown): void => {
      if (inFlight >= MAX_IN_FLIGHT) {
        waiting.push(() => run(id, method, params));
        updateFlow();
        return;
      }
      if (done || socket.destroyed) return;
      inFlight++;
      const handler = handlers[method] as (params: unknown, caller: Caller) => Promise<unknown>;
      Promise.resolve()
        .then(() => handler(params, caller))
        .then(
          (result) => {
            // Parsing also drops whatever the schema does not name, secrets included.
            const checked = methods[method].result.safeParse(result);
            if (checked.success) return reply(id, checked.data);
            log(
              `control: ${method} returned a result outside the protocol: ${describeIssues(checked.error)}`,
            );
            answerError(id, INTERNAL_ERROR);
          },
          (error: unknown) => answerError(id, errorObject(method, error)),
        )
        .finally(() => {
          inFlight--;
          waiting.shift()?.();
          updateFlow();
        });
    };

    const handleFrame = (body: Buffer): void => {
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch (error) {
        finish(null, PARSE_ERROR, 'PARSE_ERROR', `a message is not JSON: ${(error as Error).message}`);
        return;
      }
      const id = idOf(message);
      if (!allowRequest()) {
        fail(
          id,
          APPLICATION_ERROR,
          RATE_LIMITED,
          `too many requests (at most ${REQUESTS_PER_SECOND} a second)`,
        );
        return;
      }
      const request = Request.safeParse(message);
      if (!request.success) {
        fail(
          id,
          INVALID_REQUEST,
          'INVALID_REQUEST',
          `not a JSON-RPC 2.0 request: ${describeIssues(request.error)}`,
        );
        return;
      }
      const { method } = request.data;
      if (!isMethodName(method)) {
        fail(id, METHOD_NOT_FOUND, 'METHOD_NOT_FOUND', `there is no method ${JSON.stringify(method)}`);
        return;
      }
      if (!greeted && method !== 'hello') {
        fail(id, APPLICATION_ERROR, HELLO_REQUIRED, `the first request must be hello, not ${method}`);
        return;
      }
      const params = methods[method].params.safeParse(request.data.params ?? {});
      if (!params.success) {
        fail(id, INVALID_PARAMS, 'INVALID_PARAMS', `${method}: ${describeIssues(params.error)}`);
        return;
      }
      if (method === 'hello') {
        const theirs = (params.data as Params<'hello'>).protocolVersion;
        if (theirs !== PROTOCOL_VERSION) {
          const stale = theirs < PROTOCOL_VERSION ? 'client' : 'helper';
          const message = `${stale} out of date: the client speaks protocol ${theirs}, the helper ${PROTOCOL_VERSION}`;
          const data = { code: VERSION_MISMATCH, protocolVersion: PROTOCOL_VERSION };
          answerError(id, { code: APPLICATION_ERROR, message, data });
          return;
        }
        greeted = true;
        const { client } = params.data as Params<'hello'>;
        log(`control: ${JSON.stringify(client)} connected (uid ${caller.uid}, pid ${caller.pid})`);
        reply(id, { protocolVersion: PROTOCOL_VERSION, helperVersion });
        return;
      }
      if (method === 'events.subscribe') {
        subscribers.add(socket);
        reply(id, {});
        return;
      }
      run(id, method, params.data);
    };

    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) {
        if (done) return;
        handleFrame(body);
      }
      if (decoder.error) finish(null, INVALID_REQUEST, decoder.error.code, decoder.error.message);
    });
  };

  /** One answer, to the first thing the client sends, then the connection is closed. */
  const refuse = (socket: Socket, message: string): void => {
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
      socket.end(encodeFrame(errorReply(id, APPLICATION_ERROR, NOT_AUTHORIZED, message)), () =>
        socket.destroy(),
      );
    });
  };

  const authorize = async (socket: Socket): Promise<void> => {
    const { uid, gid: callerGid, pid } = peerCredentials(socket);
    const isRoot = uid === 0;
    if (isRoot || (gid !== null && (await isGroupMember(uid, gid)))) {
      if (!closing) serve(socket, { uid, gid: callerGid, pid, isRoot });
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
    socket.on('close', () => {
      connections.delete(socket);
      subscribers.delete(socket);
    });
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
    broadcast(event) {
      if (subscribers.size === 0) return;
      const checked = HelperEvent.safeParse(event);
      if (!checked.success) {
        log(`control: not sending an event outside the protocol: ${describeIssues(checked.error)}`);
        return;
      }
      let frame: Buffer;
      try {
        frame = encodeFrame({ jsonrpc: '2.0', method: EVENT_METHOD, params: checked.data });
      } catch (error) {
        log(`control: cannot send a ${event.type} event: ${(error as Error).message}`);
        return;
      }
      let dropped = 0;
      for (const socket of subscribers) {
        if (socket.writableLength > MAX_EVENT_BACKLOG_BYTES) {
          subscribers.delete(socket);
          socket.destroy();
          dropped++;
          continue;
        }
        socket.write(frame);
      }
      // Logged after the loop: the daemon broadcasts its log lines, so this may call broadcast again.
      if (dropped > 0)
        log(
          `control: dropping ${dropped} subscriber(s) not reading (over ${MAX_EVENT_BACKLOG_BYTES} bytes waiting)`,
        );
    },
    close: async () => {
      closing = true;
      for (const socket of connections) socket.destroy();
      // Closing the listener also unlinks the socket file (libuv does it).
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
