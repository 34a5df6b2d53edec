// One client connection joined to its own upstream UDP socket: datagrams from the client go to the
// WireGuard server, the server's answers go back to the client. Neither direction buffers without
// bound: a full client connection or a full UDP send queue drops the datagram (counted), as a
// congested UDP path would; WireGuard retransmits what matters.
//
// Only datagrams shaped like WireGuard messages are forwarded (../transport/wireguard-message.ts):
// the relay is not a general UDP forwarder into the server's network.
//
// A session ends when the client goes, on a protocol violation, when no datagram has passed in
// either direction for the idle timeout, on an upstream socket error, or at shutdown; the UDP
// socket always goes with it.

import type { Socket } from 'node:dgram';
import { isWireGuardMessage } from '../transport/wireguard-message.ts';
import type { RelayCounters } from './counters.ts';
import type { Link } from './link.ts';

export interface SessionOptions {
  id: number;
  idleTimeoutMs: number;
  /** Bytes the UDP socket may have queued before datagrams to the server are dropped. */
  maxUpstreamQueue: number;
  counters: RelayCounters;
  log: (line: string) => void;
  /** Called once, after the session closed and its socket is released. */
  onClosed: () => void;
  /** Extra words for the connect line (the client certificate's subject). */
  describe?: string;
}

export class Session {
  readonly id: number;
  private readonly link: Link;
  private readonly upstream: Socket;
  private readonly options: SessionOptions;
  private readonly started = performance.now();
  private lastActivity = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private up = { datagrams: 0, bytes: 0 };
  private down = { datagrams: 0, bytes: 0 };
  private drops = 0;
  /** Closing or closed: nothing more is forwarded. */
  private closing = false;
  private done = false;

  constructor(link: Link, upstream: Socket, options: SessionOptions) {
    this.id = options.id;
    this.link = link;
    this.upstream = upstream;
    this.options = options;
  }

  start(): void {
    const { counters } = this.options;
    counters.sessionsTotal += 1;
    this.options.log(
      `connect #${this.id} ${this.link.kind} ${this.link.remote}${this.options.describe ? ` ${this.options.describe}` : ''}`,
    );
    this.upstream.on('message', (datagram) => this.fromServer(datagram));
    this.upstream.on('error', (error: NodeJS.ErrnoException) => {
      // The server's port answered "unreachable" (ICMP) to an earlier datagram: it may be
      // restarting. The client's WireGuard retries; the session stays.
      if (error.code === 'ECONNREFUSED') counters.drop('upstream-unreachable');
      else this.close(`upstream: ${error.code ?? error.message}`);
    });
    this.link.start({
      datagram: (datagram) => this.fromClient(datagram),
      closed: (reason) => this.finish(reason),
    });
    this.armIdleTimer(this.options.idleTimeoutMs);
  }

  /** Ends the session (idle, shutdown): the link closes, then `finish` releases the rest. */
  close(reason: string): void {
    this.closing = true;
    if (!this.done) this.link.close(reason);
  }

  private fromClient(datagram: Uint8Array): void {
    const { counters } = this.options;
    if (this.closing) return;
    if (!isWireGuardMessage(datagram)) {
      this.close('protocol: not a WireGuard message');
      return;
    }
    if (this.upstream.getSendQueueSize() > this.options.maxUpstreamQueue) {
      counters.drop('upstream-buffer-full');
      this.drops += 1;
      return;
    }
    this.lastActivity = performance.now();
    this.upstream.send(datagram);
    this.up.datagrams += 1;
    this.up.bytes += datagram.length;
    counters.datagramsUp += 1;
    counters.bytesUp += datagram.length;
  }

  private fromServer(datagram: Buffer): void {
    const { counters } = this.options;
    if (this.closing) return;
    if (!this.link.send(datagram)) {
      counters.drop('client-buffer-full');
      this.drops += 1;
      return;
    }
    this.lastActivity = performance.now();
    this.down.datagrams += 1;
    this.down.bytes += datagram.length;
    counters.datagramsDown += 1;
    counters.bytesDown += datagram.length;
  }

  /** One timer per session, re-armed for what is left instead of reset per datagram. */
  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const idle = performance.now() - this.lastActivity;
      if (idle >= this.options.idleTimeoutMs) this.close('idle');
      else this.armIdleTimer(this.options.idleTimeoutMs - idle);
    }, ms);
  }

  private finish(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.closing = true;
    clearTimeout(this.idleTimer);
    this.upstream.close();
    const { counters } = this.options;
    counters.close(reason.split(/[:( ]/)[0]!);
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    this.options.log(
      `disconnect #${this.id} ${this.link.kind} ${this.link.remote} after ${seconds} s: ${reason}; ` +
        `up ${this.up.datagrams} datagrams ${this.up.bytes} bytes, ` +
        `down ${this.down.datagrams} datagrams ${this.down.bytes} bytes, dropped ${this.drops}`,
    );
    this.options.onClosed();
  }
}
