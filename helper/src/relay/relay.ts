// The relay: listeners (tcp://, ws://, wss://) in front of one WireGuard server, each client
// connection carried by its own upstream UDP socket (session.ts). It holds the limits that keep an
// internet-facing server up: a global and a per-source-address limit on connections (admission.ts),
// deadlines for handshakes and idle sessions, bounded frames and bounded buffers; and the counters.

import type { Server } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { formatRelayUrl, type RelayUrl } from '../transport/relay-url.ts';
import { Admission } from './admission.ts';
import { RelayCounters, type RejectReason } from './counters.ts';
import { formatRemote, type Link, CLOSE_GRACE_MS } from './link.ts';
import { listenTcp } from './listen-tcp.ts';
import { listenWebSocket, type TlsFiles } from './listen-websocket.ts';
import type { RelayContext, RelayLimits } from './relay-context.ts';
import { Session } from './session.ts';
import { openUpstream, type UpstreamAddress } from './upstream.ts';

export interface RelayOptions {
  listen: RelayUrl[];
  to: UpstreamAddress;
  /** For wss:// listeners. */
  tls?: TlsFiles;
  limits: RelayLimits;
  log: (line: string) => void;
}

/** Refusals are logged at most this often per second; the rest are counted and summed up. */
const REJECT_LOG_PER_SECOND = 5;

export class Relay implements RelayContext {
  readonly counters = new RelayCounters();
  readonly limits: RelayLimits;
  private readonly options: RelayOptions;
  private readonly admission: Admission;
  private readonly servers: Array<NetServer | Server> = [];
  /** Every admitted connection, so shutdown can cut the ones still in a handshake. */
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Session>();
  private nextId = 1;
  private stopping = false;
  private rejectLog = { second: 0, logged: 0, suppressed: 0 };

  constructor(options: RelayOptions) {
    this.options = options;
    this.limits = options.limits;
    this.admission = new Admission(options.limits.maxClients, options.limits.maxClientsPerIp);
  }

  log(line: string): void {
    this.options.log(line);
  }

  /** Opens every listener; rejects (closing the ones already open) when one cannot listen. */
  async start(): Promise<void> {
    try {
      for (const url of this.options.listen) {
        const server =
          url.scheme === 'tcp'
            ? listenTcp(url, this)
            : listenWebSocket(url, this, url.scheme === 'wss' ? this.options.tls : undefined);
        this.servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: url.port, host: url.host }, () => {
            server.off('error', reject);
            server.on('error', (error) => this.log(`listener ${formatRelayUrl(url)}: ${error.message}`));
            resolve();
          });
        }).catch((error: NodeJS.ErrnoException) => {
          throw new Error(`--listen ${formatRelayUrl(url)}: cannot listen: ${error.code ?? error.message}`);
        });
        const to = this.options.to;
        this.log(
          `listening on ${formatRelayUrl(url)}, relaying to ${formatRemote(to.address, to.port)} (udp)`,
        );
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  admit(socket: Socket): boolean {
    // First: a reset arriving at any moment from here on must not end the process.
    socket.on('error', () => {});
    const ip = socket.remoteAddress;
    const refused = this.stopping
      ? 'max-clients'
      : ip === undefined
        ? 'max-clients'
        : this.admission.admit(ip);
    if (refused !== undefined) {
      socket.destroy();
      this.reject(refused, `${formatRemote(ip, socket.remotePort)}: ${refused} limit reached`);
      return false;
    }
    this.sockets.add(socket);
    this.counters.connections = this.admission.current;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.admission.release(ip!);
      this.counters.connections = this.admission.current;
    });
    return true;
  }

  reject(reason: RejectReason, detail: string): void {
    this.counters.reject(reason);
    const second = Math.floor(performance.now() / 1000);
    if (second !== this.rejectLog.second) {
      if (this.rejectLog.suppressed > 0)
        this.log(`refused ${this.rejectLog.suppressed} more connections (not logged one by one)`);
      this.rejectLog = { second, logged: 0, suppressed: 0 };
    }
    if (this.rejectLog.logged < REJECT_LOG_PER_SECOND) {
      this.rejectLog.logged += 1;
      this.log(`refused ${detail}`);
    } else {
      this.rejectLog.suppressed += 1;
    }
  }

  async attach(link: Link, describe?: string): Promise<void> {
    let upstream;
    try {
      upstream = await openUpstream(this.options.to);
    } catch (error) {
      this.reject('upstream', `${link.remote}: no upstream socket: ${(error as Error).message}`);
      link.close('upstream unavailable');
      return;
    }
    if (this.stopping) {
      upstream.close();
      link.close('shutdown');
      return;
    }
    const session: Session = new Session(link, upstream, {
      id: this.nextId++,
      idleTimeoutMs: this.limits.idleTimeoutMs,
      maxUpstreamQueue: this.limits.maxUpstreamQueue,
      counters: this.counters,
      log: (line) => this.log(line),
      onClosed: () => this.sessions.delete(session),
      describe,
    });
    this.sessions.add(session);
    session.start();
  }

  /** Stops listening, closes every session (clients see a clean close), then cuts what is left. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = this.servers.map(
      (server) =>
        new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
    );
    for (const session of this.sessions) session.close('shutdown');
    const deadline = performance.now() + CLOSE_GRACE_MS + 500;
    while (this.sessions.size > 0 && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closed);
  }
}
