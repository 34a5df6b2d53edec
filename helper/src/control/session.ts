// One authorized control connection: JSON-RPC 2.0 in length-prefixed frames (shared/src/control),
// a per-connection rate limit, backpressure instead of buffering, hello first, then requests
// validated and dispatched to the daemon's handlers, every failure answered with an error reply.

import type { Duplex } from 'node:stream';
import { ConfigError, PhantomError } from '../../../shared/src/errors.ts';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../../shared/src/control/framing.ts';
import {
  APPLICATION_ERROR,
  describeIssues,
  HELLO_REQUIRED,
  INTERNAL,
  INVALID_PARAMS,
  INVALID_REQUEST,
  isMethodName,
  METHOD_NOT_FOUND,
  methods,
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
import type { Broadcaster } from './broadcaster.ts';
import type { Caller } from './listener.ts';
import { endWithError, errorReply, idOf, type Id, type Reply } from './reply.ts';

/** Per connection: a token bucket far above what a UI or a script needs, far below what hurts. */
export const REQUESTS_PER_SECOND = 200;
export const REQUEST_BURST = 400;
/** Handlers running for one connection; further requests wait, and the connection is not read meanwhile. */
export const MAX_IN_FLIGHT = 32;
/** Past this many unsent bytes a connection is not read until it takes its answers. */
export const PAUSE_READING_BYTES = 1024 * 1024;

type ServerMethod = 'hello' | 'events.subscribe';

/** What the daemon implements; `hello` and `events.subscribe` are the server's own. */
export type Handlers = {
  [M in Exclude<MethodName, ServerMethod>]: (params: Params<M>, caller: Caller) => Promise<Result<M>>;
};

export interface SessionOptions {
  handlers: Handlers;
  helperVersion: string;
  /** Where events.subscribe puts the connection (and where it is removed from when it ends). */
  subscribers: Pick<Broadcaster, 'add' | 'delete'>;
  log: (line: string) => void;
  /** How long a connection may stay without a hello before it is closed; HELLO_TIMEOUT_MS by default. */
  helloTimeoutMs?: number;
}

/**
 * A client says hello at once (the CLI and the app do, within milliseconds): a connection that stays
 * silent only holds one of the helper's few connection slots, so it is closed.
 */
export const HELLO_TIMEOUT_MS = 10_000;

const INTERNAL_ERROR: ErrorObject = {
  code: APPLICATION_ERROR,
  message: 'internal error in the helper; its log has the details',
  data: { code: INTERNAL },
};

/** Milliseconds on the monotonic clock. Not the global `performance`: its first use loads perf_hooks
 *  (~0.5 MB) into a service that may have no other use for it (docs/performance.md). */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

function tokenBucket() {
  let tokens = REQUEST_BURST;
  let last = monotonicMs();
  return (): boolean => {
    const now = monotonicMs();
    tokens = Math.min(REQUEST_BURST, tokens + ((now - last) * REQUESTS_PER_SECOND) / 1000);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

/** Encodes a reply; one over the frame limit becomes an error reply saying so. */
function frameOf(reply: Reply, log: (line: string) => void): Buffer {
  try {
    return encodeFrame(reply);
  } catch (error) {
    if (!(error instanceof FrameTooLargeError)) throw error;
    log(`control: cannot send a reply: ${error.message}`);
    const message = `the answer is too large to send: ${error.message}`;
    return encodeFrame(errorReply(reply.id, APPLICATION_ERROR, error.code, message));
  }
}

/** The error object for a handler's failure: PhantomErrors as they are, anything else hidden. */
function errorObject(method: string, error: unknown, log: (line: string) => void): ErrorObject {
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
}

/** Serves `stream` (a socket, or any duplex in tests) for `caller` until it ends. */
export function serveSession(stream: Duplex, caller: Caller, options: SessionOptions): void {
  const { handlers, helperVersion, subscribers, log } = options;
  const decoder = new FrameDecoder();
  const allowRequest = tokenBucket();
  let greeted = false;
  let done = false;
  let inFlight = 0;
  /** Requests past MAX_IN_FLIGHT; at most what the token bucket let through. */
  const waiting: Array<() => void> = [];

  stream.on('close', () => subscribers.delete(stream));
  const helloTimer = setTimeout(() => {
    if (greeted) return;
    log(`control: closed a connection of uid ${caller.uid} (pid ${caller.pid}) that sent no hello`);
    finish(null, APPLICATION_ERROR, HELLO_REQUIRED, 'no hello in time: the connection is closed');
  }, options.helloTimeoutMs ?? HELLO_TIMEOUT_MS);
  helloTimer.unref();
  stream.on('close', () => clearTimeout(helloTimer));

  // Backpressure instead of buffering: a client that sends faster than it is answered, or does not
  // read its answers, is simply not read until that changes.
  let paused = false;
  const updateFlow = (): void => {
    const pause = waiting.length > 0 || stream.writableLength > PAUSE_READING_BYTES;
    if (pause === paused) return;
    paused = pause;
    if (pause) stream.pause();
    else stream.resume();
  };
  stream.on('drain', updateFlow);

  const send = (frame: Buffer): void => {
    if (done || !stream.writable) return;
    stream.write(frame);
    updateFlow();
  };
  const reply = (id: Id, result: unknown) => send(frameOf({ jsonrpc: '2.0', id, result }, log));
  const answerError = (id: Id, error: ErrorObject) => send(frameOf({ jsonrpc: '2.0', id, error }, log));
  const fail = (id: Id, code: number, dataCode: string, message: string) =>
    send(frameOf(errorReply(id, code, dataCode, message), log));
  /** The last answer on a connection whose byte stream cannot be trusted any more. */
  const finish = (id: Id, code: number, dataCode: string, message: string): void => {
    if (done) return;
    done = true;
    subscribers.delete(stream);
    endWithError(stream, id, code, dataCode, message);
  };

  const run = (id: Id, method: Exclude<MethodName, ServerMethod>, params: unknown): void => {
    if (inFlight >= MAX_IN_FLIGHT) {
      waiting.push(() => run(id, method, params));
      updateFlow();
      return;
    }
    if (done || stream.destroyed) return;
    inFlight++;
    const handler = handlers[method] as (params: unknown, caller: Caller) => Promise<unknown>;
    Promise.resolve()
      .then(() => handler(params, caller))
      .then(
        (result) => {
          // Parsing also drops whatever the schema does not name, secrets included.
          const checked = methods[method].result.safeParse(result);
          if (checked.success) return reply(id, checked.data);
          log(`control: ${method} returned a result outside the protocol: ${describeIssues(checked.error)}`);
          answerError(id, INTERNAL_ERROR);
        },
        (error: unknown) => answerError(id, errorObject(method, error, log)),
      )
      .finally(() => {
        inFlight--;
        waiting.shift()?.();
        updateFlow();
      });
  };

  const hello = (id: Id, params: Params<'hello'>): void => {
    const theirs = params.protocolVersion;
    if (theirs !== PROTOCOL_VERSION) {
      const stale = theirs < PROTOCOL_VERSION ? 'client' : 'helper';
      const message = `${stale} out of date: the client speaks protocol ${theirs}, the helper ${PROTOCOL_VERSION}`;
      const data = { code: VERSION_MISMATCH, protocolVersion: PROTOCOL_VERSION };
      answerError(id, { code: APPLICATION_ERROR, message, data });
      return;
    }
    greeted = true;
    log(`control: ${JSON.stringify(params.client)} connected (uid ${caller.uid}, pid ${caller.pid})`);
    reply(id, { protocolVersion: PROTOCOL_VERSION, helperVersion });
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
    if (method === 'hello') return hello(id, params.data as Params<'hello'>);
    if (method === 'events.subscribe') {
      subscribers.add(stream);
      reply(id, {});
      return;
    }
    run(id, method, params.data);
  };

  stream.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) {
      if (done) return;
      handleFrame(body);
    }
    if (decoder.error) finish(null, INVALID_REQUEST, decoder.error.code, decoder.error.message);
  });
}
