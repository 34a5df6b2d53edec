// A ws:// or wss:// client: one binary WebSocket message per datagram. Text messages are not ours
// and close the connection (1003); a message over the bound is refused by ws itself (maxPayload,
// close 1009) before it is buffered whole.

import type { WebSocket } from 'ws';
import { CLOSE_GRACE_MS, type Link, type LinkHandlers, type LinkKind } from './link.ts';

export class WebSocketLink implements Link {
  readonly kind: LinkKind;
  readonly remote: string;
  private readonly ws: WebSocket;
  private readonly maxBuffered: number;
  private reason: string | undefined;

  constructor(ws: WebSocket, kind: 'ws' | 'wss', remote: string, maxBuffered: number) {
    this.ws = ws;
    this.kind = kind;
    this.remote = remote;
    this.maxBuffered = maxBuffered;
    // From the start: ws emits 'error' on a protocol violation (a frame over maxPayload, a bad
    // opcode, bad masking), then closes the connection itself; unhandled, it would end the process.
    ws.on('error', (error: Error & { code?: string }) => {
      this.reason ??= `protocol: ${error.code ?? error.message}`;
    });
    // Nothing is read until start(): the upstream socket is opened first.
    ws.pause();
  }

  start(handlers: LinkHandlers): void {
    const ws = this.ws;
    if (ws.readyState === ws.CLOSED) {
      queueMicrotask(() => handlers.closed(this.reason ?? 'client closed'));
      return;
    }
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.reason !== undefined) return;
      if (!isBinary) {
        this.reason = 'protocol: text message';
        ws.close(1003, 'binary messages only');
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        return;
      }
      handlers.datagram(data);
    });
    ws.on('close', (code: number) => handlers.closed(this.reason ?? `client closed (${code})`));
    ws.resume();
  }

  send(datagram: Uint8Array): boolean {
    if (this.reason !== undefined || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount > this.maxBuffered) return false;
    this.ws.send(datagram, { binary: true });
    return true;
  }

  close(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    // 1001 "going away": the relay ends it (idle, shutdown); the client may come back.
    this.ws.close(1001, reason.slice(0, 100));
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }
}
