// Through an HTTP proxy to a relay: `CONNECT host:port` (RFC 9110, 9.3.6), with Basic credentials
// when the proxy URL carries them (RFC 7617), and the answer's status line and headers read with a
// bound on their size and a deadline. A 2xx answer turns the connection into a plain byte pipe to
// the relay; TLS, WebSocket or the 2-byte framing then run over it as they would over a direct
// connection. Any other answer is the proxy's refusal, reported with its status.
//
// The proxy is untrusted input as much as the relay is: a proxy that answers with endless headers,
// or never finishes its answer, costs at most MAX_RESPONSE_HEAD bytes and the deadline.

import type { Socket } from 'node:net';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp } from '../../../shared/src/ip.ts';

/** squid, nginx and Apache answer CONNECT with a few hundred bytes; 16 KiB is far beyond any
 *  legitimate answer and small enough to hold for every connection attempt. */
export const MAX_RESPONSE_HEAD = 16 * 1024;

export interface ProxyUrl {
  /** An IP literal (canonical, IPv6 without brackets) or a host name (lower case). */
  host: string;
  port: number;
  /** Basic credentials, decoded from the URL's percent-escapes. */
  username?: string;
  password?: string;
}

export class ProxyUrlError extends PhantomError {
  constructor(text: string, problem: string) {
    // The URL may carry a password: it is never repeated in the message.
    super('PROXY_URL_INVALID', `proxy ${redactProxyUrl(text)}: ${problem}`);
    this.name = 'ProxyUrlError';
  }
}

/** The proxy URL as it may be logged: credentials replaced by "***". */
export function redactProxyUrl(text: string): string {
  return text.slice(0, 200).replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

/** Parses `http://[user:pass@]HOST:PORT` (a trailing '/' allowed). HTTPS to the proxy itself is not
 *  supported (the relay connection is end-to-end TLS anyway for wss://). */
export function parseProxyUrl(text: string): ProxyUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProxyUrlError(text, 'not a URL (expected http://[USER:PASSWORD@]HOST:PORT)');
  }
  if (url.protocol !== 'http:')
    throw new ProxyUrlError(text, `unsupported scheme ${url.protocol}// (expected http://)`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    throw new ProxyUrlError(text, 'a path, query or fragment is not allowed');
  // WHATWG drops the default port (80) from url.port; a proxy on 80 is written so or implied.
  const port = url.port === '' ? 80 : Number(url.port);
  let host = url.hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  const bytes = parseIp(host);
  if (bytes) host = formatIp(bytes);
  if (host === '') throw new ProxyUrlError(text, 'no host');
  const proxy: ProxyUrl = { host, port };
  if (url.username !== '' || url.password !== '') {
    try {
      proxy.username = decodeURIComponent(url.username);
      proxy.password = decodeURIComponent(url.password);
    } catch {
      throw new ProxyUrlError(text, 'the credentials have an invalid %-escape');
    }
    // RFC 7617: the user-id of Basic cannot contain a colon.
    if (proxy.username.includes(':')) throw new ProxyUrlError(text, 'the user name may not contain ":"');
  }
  return proxy;
}

/** The CONNECT request for `host:port`, as bytes to write. */
export function connectRequest(
  host: string,
  port: number,
  proxy: Pick<ProxyUrl, 'username' | 'password'>,
): string {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== undefined) {
    const credentials = Buffer.from(`${proxy.username}:${proxy.password ?? ''}`, 'utf8').toString('base64');
    lines.push(`Proxy-Authorization: Basic ${credentials}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface ConnectResponse {
  status: number;
  reason: string;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Map<string, string>;
  /** Bytes of the status line and headers, with the empty line ending them. */
  headLength: number;
}

export class ProxyError extends PhantomError {
  /** The proxy's status code when it answered with one. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super('PROXY_REFUSED', message);
    this.name = 'ProxyError';
    this.status = status;
  }
}

/**
 * Parses the proxy's answer from the bytes received so far: null while the head is incomplete (and
 * under MAX_RESPONSE_HEAD); a ProxyError thrown when it is malformed or too long. Only the head is
 * parsed: what follows it belongs to the tunnel.
 */
export function parseConnectResponse(received: Buffer, maxHead = MAX_RESPONSE_HEAD): ConnectResponse | null {
  // A bare LF ends lines too (RFC 9112, 2.2: a recipient MAY accept it); find whichever ends first.
  const crlf = received.indexOf('\r\n\r\n');
  const lf = received.indexOf('\n\n');
  let end: number;
  if (crlf !== -1 && (lf === -1 || crlf + 2 <= lf)) end = crlf + 4;
  else if (lf !== -1) end = lf + 2;
  else {
    if (received.length > maxHead)
      throw new ProxyError(`the proxy's answer has a head longer than ${maxHead} bytes`);
    return null;
  }
  if (end > maxHead) throw new ProxyError(`the proxy's answer has a head longer than ${maxHead} bytes`);
  const lines = received.subarray(0, end).toString('latin1').split(/\r?\n/);
  const statusLine = lines[0]!;
  const match = /^HTTP\/1\.[01] ([0-9]{3})(?: (.*))?$/.exec(statusLine);
  if (!match)
    throw new ProxyError(`the proxy did not answer HTTP (${JSON.stringify(statusLine.slice(0, 40))})`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    // Obsolete line folding (a line starting with white space) and lines without a name are
    // malformed (RFC 9112, 5.2): a proxy that sends them is not one to reason with.
    if (colon <= 0 || /^[ \t]/.test(line) || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(line.slice(0, colon)))
      throw new ProxyError(
        `the proxy's answer has a malformed header line (${JSON.stringify(line.slice(0, 40))})`,
      );
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), reason: (match[2] ?? '').trim(), headers, headLength: end };
}

export interface HttpConnectOptions {
  /** The relay, as the proxy is to reach it (a name is resolved by the proxy). */
  host: string;
  port: number;
  proxy: Pick<ProxyUrl, 'username' | 'password'>;
  timeoutMs: number;
  maxHead?: number;
}

/**
 * Sends CONNECT on `socket` (connected to the proxy) and waits for a 2xx answer. Resolves with the
 * bytes that followed the answer's head in the same reads (usually none: the relay never speaks
 * first); the socket is then paused, with no listener of ours left on it. Rejects with a ProxyError
 * (the socket is destroyed) on a refusal, a malformed answer, the deadline or a closed connection.
 */
export function httpConnect(socket: Socket, options: HttpConnectOptions): Promise<Buffer> {
  const maxHead = options.maxHead ?? MAX_RESPONSE_HEAD;
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('end', onClose);
    };
    const fail = (error: ProxyError): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      let response: ConnectResponse | null;
      try {
        response = parseConnectResponse(received, maxHead);
      } catch (error) {
        fail(error as ProxyError);
        return;
      }
      if (!response) return;
      if (response.status < 200 || response.status > 299) {
        const reason = response.reason === '' ? '' : ` (${response.reason.slice(0, 80)})`;
        fail(new ProxyError(`proxy answered ${response.status}${reason}`, response.status));
        return;
      }
      cleanup();
      socket.pause();
      resolve(received.subarray(response.headLength));
    };
    const onError = (error: NodeJS.ErrnoException): void =>
      fail(new ProxyError(`proxy connection failed: ${error.code ?? error.message}`));
    const onClose = (): void => fail(new ProxyError('the proxy closed the connection without answering'));
    const timer = setTimeout(
      () => fail(new ProxyError(`the proxy did not answer CONNECT within ${options.timeoutMs / 1000} s`)),
      options.timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onClose);
    socket.write(connectRequest(options.host, options.port, options.proxy));
  });
}
