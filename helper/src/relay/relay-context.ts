// What a listener needs from the relay: admission of a fresh connection, and a session for a link
// that is ready to carry datagrams. The listeners know their protocol; the relay knows the rest.

import type { Socket } from 'node:net';
import type { RejectReason } from './counters.ts';
import type { Link } from './link.ts';

export interface RelayLimits {
  maxClients: number;
  maxClientsPerIp: number;
  idleTimeoutMs: number;
  /** The TLS handshake and the HTTP upgrade must be done within this. */
  handshakeTimeoutMs: number;
  /** The largest datagram a client may send (frames and messages above it close the connection). */
  maxDatagram: number;
  /** Unsent bytes a client connection may hold before datagrams to it are dropped. */
  maxBuffered: number;
  /** Bytes queued on an upstream UDP socket before datagrams to the server are dropped. */
  maxUpstreamQueue: number;
}

export interface RelayContext {
  readonly limits: RelayLimits;
  /**
   * Takes a slot for a freshly accepted connection, or refuses it (destroyed, counted, logged).
   * Either way the socket has an 'error' handler afterwards; the slot is freed when it closes.
   */
  admit(socket: Socket): boolean;
  /** Opens the upstream socket and starts a session on `link`. `describe` goes into the log. */
  attach(link: Link, describe?: string): Promise<void>;
  /** Counts and logs (rate-limited) a connection refused after admission. */
  reject(reason: RejectReason, detail: string): void;
  log(line: string): void;
}
