// The browser host: the app's main-process core (the same AppController as in Electron) in plain Node,
// serving the built renderer to an ordinary browser on 127.0.0.1, with `window.phantommesh` provided
// by a shim over a WebSocket. For development without Electron and for tests of the renderer.
//
// It drives a root helper, so only the page it printed the address of may use it: the WebSocket needs
// the random token from that address (compared in constant time), and both HTTP and WebSocket requests
// must name this host in Host (and Origin, when a browser sends one), so that a web page elsewhere
// cannot reach it through DNS rebinding.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from '../../shared/src/zod.ts';
import type { AppEvent, TransportFileKind } from '../../shared/src/ipc/schema.ts';
import { startCore } from '../main/app-core.ts';
import type { Backoff } from '../main/helper-link.ts';
import { APP_RESPONSE_HEADERS, CONTENT_SECURITY_POLICY } from '../main/security.ts';
import { contentType, resolveStaticPath } from '../main/static-files.ts';
import { browserHostPlatform } from './browser-host-platform.ts';
import { installShim } from './shim.ts';
import { IPC_PATH, SHIM_PATH, TOKEN_CHECK_PATH, type WireMessage } from './wire.ts';

export interface WebHostOptions {
  socketPath: string;
  /** 0 picks a free port. */
  port: number;
  /** The built renderer (index.html and its assets). */
  rendererDir: string;
  /**
   * Where saved diagnostics and exports go. Without it the host makes a private directory (0700,
   * mkdtemp) under the system's temporary directory: never fixed names in a shared /tmp.
   */
  downloadsDir?: string;
  /** Where the app settings of the browser host are kept. */
  configDir: string;
  version: string;
  log: (message: string) => void;
  backoff?: Backoff;
  /** A stand-in for the desktop's certificate file dialog (browserHostPlatform says why). */
  chooseTransportFile?: (kind: TransportFileKind) => Promise<string | null>;
}

export interface WebHost {
  /** The address to open, with the access token. */
  url: string;
  port: number;
  /** Where saved diagnostics and exports go. */
  downloadsDir: string;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const MAX_MESSAGE_BYTES = 1024 * 1024;
const SHIM_SOURCE = `(${installShim.toString()})();\n`;

const WireRequest = z.strictObject({
  id: z.int().check(z.nonnegative()),
  method: z.string().check(z.maxLength(200)),
  params: z.unknown(),
});

/** The shim first in <head>: it must define window.phantommesh before any renderer script runs. */
export function injectShim(html: string): string {
  const tag = `<script src="${SHIM_PATH}"></script>`;
  const head = /<head(\s[^>]*)?>/i;
  return head.test(html) ? html.replace(head, (match) => `${match}${tag}`) : `${tag}${html}`;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const token = randomBytes(32).toString('base64url');
  const tokenDigest = digest(token);
  // Equal-length digests: timingSafeEqual then reveals neither the token nor its length.
  const tokenMatches = (given: string | null) =>
    given !== null && timingSafeEqual(digest(given), tokenDigest);

  const clients = new Set<WebSocket>();
  const broadcast = (event: AppEvent) => {
    const text = JSON.stringify({ event } satisfies WireMessage);
    for (const client of clients) if (client.readyState === client.OPEN) client.send(text);
  };
  const downloadsDir = options.downloadsDir ?? (await mkdtemp(join(tmpdir(), 'phantommesh-web-')));
  const core = await startCore({
    socketPath: options.socketPath,
    settingsPath: join(options.configDir, 'settings.json'),
    platform: browserHostPlatform({
      downloadsDir,
      socketPath: options.socketPath,
      log: options.log,
      ...(options.chooseTransportFile ? { chooseTransportFile: options.chooseTransportFile } : {}),
    }),
    version: options.version,
    emit: broadcast,
    log: options.log,
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });

  let port = options.port;
  const hosts = () => [`${HOST}:${port}`, `localhost:${port}`];
  const hostAllowed = (request: IncomingMessage) => hosts().includes(request.headers.host ?? '');
  const originAllowed = (request: IncomingMessage) =>
    request.headers.origin === undefined ||
    hosts().some((host) => request.headers.origin === `http://${host}`);

  const respond = (
    response: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    headers: OutgoingHttpHeaders = {},
  ) => {
    response.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    });
    response.end(body);
  };

  const serve = async (request: IncomingMessage, response: ServerResponse) => {
    if (!hostAllowed(request))
      return respond(response, 403, 'text/plain', `Forbidden: open http://${HOST}:${port}/ instead\n`);
    if (request.method !== 'GET') return respond(response, 405, 'text/plain', 'Method not allowed\n');
    const { pathname } = new URL(request.url ?? '/', `http://${HOST}`);
    if (pathname === SHIM_PATH) return respond(response, 200, 'text/javascript; charset=utf-8', SHIM_SOURCE);
    if (pathname === IPC_PATH) return respond(response, 400, 'text/plain', 'WebSocket only\n');
    // Lets the page tell a missing or wrong token from a host that is gone, to say which. It reveals
    // no more than the WebSocket's own refusal does.
    if (pathname === TOKEN_CHECK_PATH) {
      const given = new URL(request.url ?? '/', `http://${HOST}`).searchParams.get('token');
      return tokenMatches(given)
        ? respond(response, 204, 'text/plain', '')
        : respond(response, 403, 'text/plain', 'Wrong or missing access token\n');
    }
    const file = resolveStaticPath(options.rendererDir, pathname);
    if (file === null) return respond(response, 404, 'text/plain', 'Not found\n');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      if (file === join(options.rendererDir, 'index.html'))
        return respond(
          response,
          503,
          'text/plain',
          `The renderer is not built: ${file} is missing (vite build of app/renderer).\n`,
        );
      return respond(response, 404, 'text/plain', 'Not found\n');
    }
    const type = contentType(file);
    const headers = {
      ...APP_RESPONSE_HEADERS,
      // The page talks to this host's WebSocket; 'self' alone does not name ws: in every browser.
      'Content-Security-Policy': CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'",
        `connect-src 'self' ws://${request.headers.host}`,
      ),
    };
    respond(
      response,
      200,
      type,
      type.startsWith('text/html') ? injectShim(body.toString('utf8')) : body,
      headers,
    );
  };

  const server = createServer((request, response) => {
    serve(request, response).catch((error: Error) => {
      options.log(`${request.url}: ${error.message}`);
      if (!response.headersSent) respond(response, 500, 'text/plain', 'Internal error\n');
    });
  });

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const accept = (socket: WebSocket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    socket.on('message', (data: RawData, isBinary: boolean) => {
      let request: z.infer<typeof WireRequest>;
      try {
        request = WireRequest.parse(JSON.parse(isBinary ? '' : data.toString()));
      } catch {
        socket.close(1008, 'not a request');
        return;
      }
      void core.controller.invoke(request.method, request.params).then((reply) => {
        if (socket.readyState === socket.OPEN)
          socket.send(JSON.stringify({ id: request.id, reply } satisfies WireMessage));
      });
    });
  };
  server.on('upgrade', (request: IncomingMessage, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', `http://${HOST}`);
    const allowed =
      url.pathname === IPC_PATH &&
      hostAllowed(request) &&
      originAllowed(request) &&
      tokenMatches(url.searchParams.get('token'));
    if (!allowed) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, accept);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `http://${HOST}:${port}/?token=${token}`,
    port,
    downloadsDir,
    async close() {
      core.stop();
      for (const client of clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
