// The helper's control socket: JSON-RPC 2.0 in length-prefixed frames (shared/src/control), for the
// app and the `phantommesh` CLI. Put together from three parts with one job each: the listener
// (listener.ts: the private socket, SO_PEERCRED, the group check), one session per authorized
// connection (session.ts: framing, rate limit, backpressure, hello, dispatch) and the broadcaster
// (broadcaster.ts: events to the subscribed sessions).

import type { HelperEvent } from '../../../shared/src/control/protocol.ts';
import { Broadcaster } from './broadcaster.ts';
import { listenForCallers } from './listener.ts';
import { serveSession, type Handlers } from './session.ts';

export type { Caller } from './listener.ts';
export type { Handlers } from './session.ts';

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

export async function serveControl(options: ControlOptions): Promise<ControlServer> {
  const { socketPath, group, handlers, log, helperVersion } = options;
  const broadcaster = new Broadcaster(log);
  const listener = await listenForCallers({
    socketPath,
    group,
    log,
    onCaller: (socket, caller) =>
      serveSession(socket, caller, { handlers, helperVersion, subscribers: broadcaster, log }),
  });
  return {
    path: listener.path,
    broadcast: (event) => broadcaster.broadcast(event),
    close: () => listener.close(),
  };
}
