// Keeps the app connected to the helper's control socket, the way Mullvad's GUI keeps its daemon
// connection: connect (connectHelper checks that root owns the socket and that both sides speak the
// same protocol), subscribe to events, and when the helper goes away (restart, upgrade, not installed)
// try again with capped exponential backoff. Whoever listens learns the state as a HelperConnection,
// each with what people can do about it.

import type { Socket } from 'node:net';
import { connectHelper, HelperError, type HelperClient } from '../../shared/src/control/client.ts';
import {
  NOT_AUTHORIZED,
  PROTOCOL_VERSION,
  VERSION_MISMATCH,
  type HelperEvent,
  type MethodName,
  type Params,
  type Result,
} from '../../shared/src/control/protocol.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import type { HelperConnection } from '../../shared/src/ipc/schema.ts';
import { CONTROL_GROUP } from '../../shared/src/control/socket-path.ts';

export const CONNECTING_MESSAGE = 'Connecting to the PhantomMesh helper…';
export const RECONNECTING_MESSAGE = 'Lost the connection to the PhantomMesh helper; reconnecting…';
export const UNAUTHORIZED_MESSAGE =
  `You are not allowed to use the PhantomMesh helper: only root and members of the ${CONTROL_GROUP} ` +
  `group may. Add yourself with \`sudo usermod -aG ${CONTROL_GROUP} $USER\`, then log out and back in.`;

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Quick at first (a helper that is restarting is back within a second), then every 5 s. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 5000 };

export interface HelperLinkOptions {
  socketPath: string;
  /** Who is asking, for the helper's log: 'phantommesh-app 0.1.0'. */
  client: string;
  /** The platform can start or install the helper (HelperConnection.canFix when it is not running). */
  canFix: boolean;
  /** How to get the helper running on this platform; a function is asked at each failure (Windows:
   *  what the service manager says now). */
  unavailableHint: string | (() => string);
  /** What to tell a user the helper refuses, when this platform words it otherwise (Windows). */
  unauthorizedMessage?: string;
  /** connectHelper's openVerified (Windows: the control pipe opened and its server checked). */
  openVerified?: (path: string) => Promise<Socket>;
  backoff?: Backoff;
}

export interface FailureContext {
  canFix: boolean;
  unavailableHint: string | (() => string);
  unauthorizedMessage?: string;
}

/** What a failed connection attempt means for people. */
export function describeFailure(error: unknown, context: FailureContext): HelperConnection {
  const code = error instanceof PhantomError ? error.code : undefined;
  if (code === NOT_AUTHORIZED)
    return {
      state: 'unauthorized',
      message: context.unauthorizedMessage ?? UNAUTHORIZED_MESSAGE,
      canFix: false,
    };
  if (code === VERSION_MISMATCH) {
    const theirs = error instanceof HelperError ? error.protocolVersion : undefined;
    const message =
      theirs !== undefined && theirs > PROTOCOL_VERSION
        ? `This app is out of date: the helper speaks protocol ${theirs}, the app ${PROTOCOL_VERSION}. ` +
          'Update PhantomMesh so that the app and the helper come from the same version.'
        : `The PhantomMesh helper is out of date: it speaks protocol ${theirs ?? 'unknown'}, the app ` +
          `${PROTOCOL_VERSION}. Update PhantomMesh so that the app and the helper come from the same version.`;
    return { state: 'out-of-date', message, canFix: false };
  }
  if (code === 'HELPER_UNAVAILABLE' || code === 'HELPER_DISCONNECTED')
    return {
      state: 'unavailable',
      // The UI's heading already says the helper is not running: the message says what to do.
      message:
        typeof context.unavailableHint === 'function' ? context.unavailableHint() : context.unavailableHint,
      canFix: context.canFix,
    };
  // A socket that root does not own, a helper that broke the protocol, an OS error: starting the
  // service would not help, so no fix is offered; the message says what happened.
  const detail = error instanceof Error ? error.message : String(error);
  return { state: 'unavailable', message: `Cannot use the PhantomMesh helper: ${detail}`, canFix: false };
}

function sameConnection(a: HelperConnection, b: HelperConnection): boolean {
  return a.state === b.state && a.message === b.message && a.canFix === b.canFix;
}

export class HelperLink {
  private readonly options: HelperLinkOptions;
  private readonly backoff: Backoff;
  private current: HelperConnection = { state: 'connecting', message: CONNECTING_MESSAGE, canFix: false };
  private client: HelperClient | null = null;
  private running = false;
  private delayMs: number;
  /** Ends the wait between two attempts early (stop, retryNow). */
  private wake: (() => void) | null = null;
  private readonly statusListeners = new Set<(connection: HelperConnection) => void>();
  private readonly eventListeners = new Set<(event: HelperEvent) => void>();

  constructor(options: HelperLinkOptions) {
    this.options = options;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
  }

  get status(): HelperConnection {
    return { ...this.current };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  stop(): void {
    this.running = false;
    this.client?.close();
    this.wake?.();
  }

  /** Tries at once, e.g. after the user asked the OS to start the helper. */
  retryNow(): void {
    this.delayMs = this.backoff.initialMs;
    this.wake?.();
  }

  /** Calls the helper; fails with HELPER_UNAVAILABLE (and the reason people see) when not connected. */
  call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    if (!this.client)
      return Promise.reject(
        new PhantomError('HELPER_UNAVAILABLE', this.current.message ?? 'The helper is not connected.'),
      );
    return this.client.call(method, params);
  }

  onStatus(listener: (connection: HelperConnection) => void): () => void {
    const wrapped = (connection: HelperConnection) => listener(connection);
    this.statusListeners.add(wrapped);
    return () => this.statusListeners.delete(wrapped);
  }

  onEvent(listener: (event: HelperEvent) => void): () => void {
    const wrapped = (event: HelperEvent) => listener(event);
    this.eventListeners.add(wrapped);
    return () => this.eventListeners.delete(wrapped);
  }

  private set(connection: HelperConnection): void {
    if (sameConnection(connection, this.current)) return;
    this.current = connection;
    // Each listener in its own task, as the client does with events: one that throws stops nobody else.
    for (const listener of this.statusListeners) queueMicrotask(() => listener({ ...connection }));
  }

  private async run(): Promise<void> {
    while (this.running) {
      let client: HelperClient;
      try {
        client = await this.connect();
      } catch (error) {
        if (!this.running) return;
        this.set(describeFailure(error, this.options));
        await this.pause();
        continue;
      }
      if (!this.running) {
        client.close();
        return;
      }
      this.client = client;
      this.delayMs = this.backoff.initialMs;
      this.set({ state: 'connected', canFix: false });
      await client.closed;
      this.client = null;
      if (!this.running) return;
      // Straight back in: a restarting helper is usually back by the time this attempt runs, and if
      // not the attempt says why.
      this.set({ state: 'connecting', message: RECONNECTING_MESSAGE, canFix: false });
    }
  }

  /** A connected client already subscribed to events, so none is missed once it counts as connected. */
  private async connect(): Promise<HelperClient> {
    const client = await connectHelper({
      socketPath: this.options.socketPath,
      client: this.options.client,
      ...(this.options.openVerified ? { openVerified: this.options.openVerified } : {}),
    });
    client.onEvent((event) => {
      for (const listener of this.eventListeners) queueMicrotask(() => listener(event));
    });
    try {
      await client.call('events.subscribe', {});
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  private pause(): Promise<void> {
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.wake = done;
    });
  }
}
