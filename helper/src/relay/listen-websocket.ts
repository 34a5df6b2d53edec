// ws:// and wss:// listeners: an HTTP(S) server that upgrades requests for exactly the configured
// path to WebSocket (anything else gets 404 and no upgrade). wss:// terminates TLS itself (1.2 at
// least); with a client CA it demands a client certificate signed by it, so a client without one
// never gets past the TLS handshake, let alone to a WebSocket.
//
// Every stage has a deadline: the TLS handshake (handshakeTimeout) and the request up to the upgrade
// (a timer per connection), so a connection that sits idle before it carries datagrams is cut.

import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { RelayUrl } from '../transport/relay-url.ts';
import { formatRemote } from './link.ts';
import type { RelayContext } from './relay-context.ts';
import { WebSocketLink } from './websocket-link.ts';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** Client certificates must be signed by this CA (mTLS). */
  clientCa?: Buffer;
}

export function listenWebSocket(url: RelayUrl, relay: RelayContext, tls?: TlsFiles): Server {
  const { limits } = relay;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxDatagram,
    // Compression of encrypted datagrams gains nothing and costs memory per connection.
    perMessageDeflate: false,
    clientTracking: false,
  });
  const server: Server = tls
    ? createHttpsServer({
        cert: tls.cert,
        key: tls.key,
        ca: tls.clientCa,
        requestCert: tls.clientCa !== undefined,
        rejectUnauthorized: tls.clientCa !== undefined,
        minVersion: 'TLSv1.2',
        handshakeTimeout: limits.handshakeTimeoutMs,
      })
    : createHttpServer();
  server.headersTimeout = limits.handshakeTimeoutMs;
  server.requestTimeout = limits.handshakeTimeoutMs;
  server.keepAliveTimeout = 1000;
  server.maxHeadersCount = 64;

  // Until the upgrade: the deadline, per socket the HTTP layer sees (the TLS socket for wss).
  const deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  const armDeadline = (socket: Socket): void => {
    const timer = setTimeout(() => {
      relay.reject('timeout', `${formatRemote(socket.remoteAddress, socket.remotePort)}: no upgrade in time`);
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    timer.unref();
    deadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  };
  // Before the TLS layer's own listener: a refused connection is cut before any TLS work is done.
  // The address of each raw connection, for the log line of a TLS handshake that fails (by then
  // the TLS socket no longer knows it); refused ones are marked, they are counted already.
  const remotes = new WeakMap<Socket, string>();
  const refused = new WeakSet<Socket>();
  server.prependListener('connection', (socket: Socket) => {
    remotes.set(socket, formatRemote(socket.remoteAddress, socket.remotePort));
    if (!relay.admit(socket)) {
      refused.add(socket);
      return;
    }
    if (!tls) armDeadline(socket);
  });
  if (tls) {
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.on('error', () => {});
      armDeadline(socket);
    });
    server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
      // Node's TLS socket keeps the TCP socket it wraps as _parent (not typed).
      const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
      if (raw && refused.has(raw)) return;
      const remote = (raw && remotes.get(raw)) ?? formatRemote(socket.remoteAddress, socket.remotePort);
      relay.reject('tls', `${remote}: TLS handshake failed: ${error.code ?? error.message}`);
    });
  }
  server.on('clientError', (_error, socket: Socket) => socket.destroy());

  const pathOf = (request: IncomingMessage): string => {
    const target = request.url ?? '';
    const query = target.indexOf('?');
    return query === -1 ? target : target.slice(0, query);
  };

  // Plain requests: nothing here but the WebSocket endpoint.
  server.on('request', (request, response) => {
    const ours = pathOf(request) === url.path;
    response.shouldKeepAlive = false;
    response
      .writeHead(ours ? 426 : 404, { 'content-type': 'text/plain', connection: 'close' })
      .end(ours ? 'WebSocket only\n' : 'not found\n');
  });

  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    clearTimeout(deadlines.get(socket));
    socket.on('error', () => {});
    const remote = formatRemote(socket.remoteAddress, socket.remotePort);
    if (pathOf(request) !== url.path || request.headers.upgrade?.toLowerCase() !== 'websocket') {
      relay.reject('not-found', `${remote}: upgrade of ${JSON.stringify(pathOf(request).slice(0, 100))}`);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      void relay.attach(
        new WebSocketLink(ws, url.scheme === 'wss' ? 'wss' : 'ws', remote, limits.maxBuffered),
        clientName(socket),
      );
    });
  });
  server.on('close', () => wss.close());
  return server;
}

/** The client certificate's subject CN (mTLS), for the connect line; no other field of it. */
function clientName(socket: Socket): string | undefined {
  const tlsSocket = socket as Partial<TLSSocket>;
  if (typeof tlsSocket.getPeerCertificate !== 'function') return undefined;
  const cn = tlsSocket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? `cert CN=${JSON.stringify(cn.slice(0, 64))}` : undefined;
}
