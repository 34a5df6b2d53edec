// Where a relay is, as a URL: `tcp://HOST:PORT` (the 2-byte framing of stream-framing.ts),
// `ws://HOST[:PORT]/PATH` and `wss://HOST[:PORT]/PATH` (one WebSocket binary message per datagram).
// The relay listens on such URLs and the client connects to them, so both sides parse them here.
// Pure: the host is checked for shape, never resolved.
//
// Deliberately stricter than WHATWG URL (which would accept and silently rewrite much of this): no
// credentials, no query, no fragment, no percent-escapes, a port in 1..65535. A URL that says more
// than we use is refused with the reason, rather than half understood.

import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp } from '../../../shared/src/ip.ts';

export type RelayScheme = 'tcp' | 'ws' | 'wss';

export interface RelayUrl {
  scheme: RelayScheme;
  /** An IP literal (canonical text, IPv6 without brackets) or a DNS name (lower case). */
  host: string;
  port: number;
  /** The WebSocket path ('/' when none was written); '' for tcp. */
  path: string;
}

export class RelayUrlError extends PhantomError {
  constructor(text: string, problem: string) {
    super('RELAY_URL_INVALID', `${JSON.stringify(text.slice(0, 200))}: ${problem}`);
    this.name = 'RelayUrlError';
  }
}

/** What each scheme defaults its port to; tcp has no conventional port, so it must be written. */
const DEFAULT_PORT: Record<RelayScheme, number | undefined> = { tcp: undefined, ws: 80, wss: 443 };
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;
/** RFC 3986 path characters (pchar and '/'), without '%': no escapes to decode. */
const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const MAX_PATH = 256;

export function parseRelayUrl(text: string): RelayUrl {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (!match) throw new RelayUrlError(text, 'not a URL (expected tcp://, ws:// or wss://)');
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'ws' && scheme !== 'wss')
    throw new RelayUrlError(text, `unsupported scheme ${scheme}:// (expected tcp://, ws:// or wss://)`);
  let rest = match[2]!;
  if (/[?#]/.test(rest)) throw new RelayUrlError(text, 'a query or fragment is not allowed');
  if (/\s/.test(rest)) throw new RelayUrlError(text, 'white space is not allowed');

  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  rest = slash === -1 ? '' : rest.slice(slash);
  if (authority.includes('@')) throw new RelayUrlError(text, 'credentials are not allowed in a relay URL');

  let hostText: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) throw new RelayUrlError(text, 'unterminated [IPv6 address]');
    hostText = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':'))
      throw new RelayUrlError(text, `unexpected ${JSON.stringify(after)} after the address`);
    portText = after === '' ? undefined : after.slice(1);
    const bytes = parseIp(hostText);
    if (!bytes || bytes.length !== 16 || hostText.includes('%'))
      throw new RelayUrlError(text, `[${hostText}] is not an IPv6 address`);
    hostText = formatIp(bytes);
  } else {
    const colon = authority.lastIndexOf(':');
    hostText = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    if (hostText.includes(':'))
      throw new RelayUrlError(text, 'an IPv6 address must be written in [brackets]');
    if (hostText === '') throw new RelayUrlError(text, 'no host');
    const bytes = parseIp(hostText);
    if (bytes) hostText = formatIp(bytes);
    else {
      hostText = hostText.toLowerCase();
      if (/^[0-9.]+$/.test(hostText) || hostText.length > 253 || !HOSTNAME.test(hostText))
        throw new RelayUrlError(text, `${JSON.stringify(hostText)} is neither an IP address nor a host name`);
    }
  }

  let port = DEFAULT_PORT[scheme];
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      throw new RelayUrlError(text, `port ${JSON.stringify(portText)} is not in 1..65535`);
    port = Number(portText);
  }
  if (port === undefined) throw new RelayUrlError(text, `${scheme}:// needs a port (${scheme}://HOST:PORT)`);

  let path: string;
  if (scheme === 'tcp') {
    if (rest !== '' && rest !== '/') throw new RelayUrlError(text, 'tcp:// takes no path');
    path = '';
  } else {
    path = rest === '' ? '/' : rest;
    if (path.length > MAX_PATH)
      throw new RelayUrlError(text, `the path is longer than ${MAX_PATH} characters`);
    if (!PATH.test(path))
      throw new RelayUrlError(text, "the path may hold only letters, digits and -._~!$&'()*+,;=:@/");
  }
  return { scheme, host: hostText, port, path };
}

/** The URL as text again, canonical (lower-case scheme and name, IPv6 in brackets, path kept). */
export function formatRelayUrl(url: RelayUrl): string {
  const host = url.host.includes(':') ? `[${url.host}]` : url.host;
  return `${url.scheme}://${host}:${url.port}${url.path}`;
}
