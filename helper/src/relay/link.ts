// One client connection as the session sees it: datagrams in, datagrams out, closed once. The
// stream (tcp-link.ts) and WebSocket (websocket-link.ts) links hide their framing behind it.

export type LinkKind = 'tcp' | 'ws' | 'wss';

export interface LinkHandlers {
  /** One datagram from the client, in order. It may share memory with the read it came from. */
  datagram(datagram: Uint8Array): void;
  /** The connection is gone, for `reason` (said once, whoever closed it). */
  closed(reason: string): void;
}

export interface Link {
  readonly kind: LinkKind;
  /** The client's address and port, for the log. */
  readonly remote: string;
  /** Starts reading; before this nothing is read (the upstream socket is opened first). */
  start(handlers: LinkHandlers): void;
  /**
   * Sends one datagram to the client; false when it was dropped because the connection already has
   * more than its bound of unsent bytes (a slow or stalled client must not grow our memory).
   */
  send(datagram: Uint8Array): boolean;
  /** Closes the connection; `reason` is what `closed` will report. Idempotent. */
  close(reason: string): void;
}

/** How long a closed connection may take to flush and say goodbye before it is cut. */
export const CLOSE_GRACE_MS = 2000;

/** "1.2.3.4:5" or "[2001:db8::1]:5", for log lines. */
export function formatRemote(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  const plain =
    address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  return plain.includes(':') ? `[${plain}]:${port}` : `${plain}:${port}`;
}
