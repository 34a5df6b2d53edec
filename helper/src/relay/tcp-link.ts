// A tcp:// client: datagrams framed with a 2-byte length (../transport/stream-framing.ts), the
// framing of Mullvad's udp-over-tcp. TCP_NODELAY, since every write is a whole datagram that the
// peer's WireGuard is waiting for; Nagle would hold handshake messages back.

import type { Socket } from 'node:net';
import { encodeFrame, FrameTooLargeError, StreamDeframer } from '../transport/stream-framing.ts';
import { CLOSE_GRACE_MS, formatRemote, type Link, type LinkHandlers } from './link.ts';

export class TcpLink implements Link {
  readonly kind = 'tcp' as const;
  readonly remote: string;
  private readonly socket: Socket;
  private readonly maxBuffered: number;
  private readonly deframer: StreamDeframer;
  private reason: string | undefined;

  /** From here on, the link handles `socket`'s errors. */
  constructor(socket: Socket, maxDatagram: number, maxBuffered: number) {
    this.socket = socket;
    this.remote = formatRemote(socket.remoteAddress, socket.remotePort);
    this.maxBuffered = maxBuffered;
    this.deframer = new StreamDeframer(maxDatagram);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.reason ??= `error: ${error.code ?? error.message}`;
    });
  }

  start(handlers: LinkHandlers): void {
    const socket = this.socket;
    // Gone while the upstream socket was being opened: say so, once, as 'close' would have.
    if (socket.destroyed) {
      queueMicrotask(() => handlers.closed(this.reason ?? 'client closed'));
      return;
    }
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.reason !== undefined) return;
      try {
        this.deframer.push(chunk, handlers.datagram);
      } catch (error) {
        if (!(error instanceof FrameTooLargeError)) throw error;
        // Not our protocol, or a hostile client: nothing after this can be trusted to be framed.
        this.reason = `protocol: ${error.message}`;
        socket.destroy();
      }
    });
    // The client finished sending: so do we (a half-open relay session carries nothing useful).
    socket.on('end', () => this.close('client closed'));
    socket.on('close', () => handlers.closed(this.reason ?? 'client closed'));
  }

  send(datagram: Uint8Array): boolean {
    if (this.reason !== undefined || this.socket.writableLength > this.maxBuffered) return false;
    this.socket.write(encodeFrame(datagram));
    return true;
  }

  close(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
}
