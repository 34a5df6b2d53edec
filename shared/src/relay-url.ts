// Where a relay is, as a URL: `tcp://HOST:PORT` (the 2-byte framing of the helper's
// transport/stream-framing.ts), `ws://HOST[:PORT]/PATH` and `wss://HOST[:PORT]/PATH` (one WebSocket
// binary message per datagram). The one set of rules: the helper and phantommesh-relay parse with it
// (helper/src/transport/relay-url.ts words a problem in English and throws), the renderer's transport
// form checks with it (app/renderer/src/lib/transport.ts words a problem in the strings table).
// Pure, no Node and no DOM (the renderer imports it): the host is checked for shape, never resolved.
//
// Deliberately stricter than WHATWG URL (which would accept and silently rewrite much of this): no
// credentials, no query, no fragment, no percent-escapes, no white space, a port in 1..65535. A URL
// that says more than we use is refused with the reason, rather than half understood.

import { formatIp, parseIp } from './ip.ts';

export type RelayScheme = 'tcp' | 'ws' | 'wss';

export interface RelayUrl {
  scheme: RelayScheme;
  /** An IP literal (canonical text, IPv6 without brackets) or a DNS name (lower case). */
  host: string;
  port: number;
  /** The WebSocket path ('/' when none was written); '' for tcp. */
  path: string;
}

/** The longest relay URL (the control protocol's and the IPC schema's RelayUrl bound it alike). */
export const MAX_RELAY_URL = 2048;
/** The longest WebSocket path. */
export const MAX_RELAY_PATH = 256;
/** The longest DNS name. */
const MAX_HOST_NAME = 253;

/** Why a text is not a relay URL: the first rule it breaks, with what broke it. */
export type RelayUrlProblem =
  | { kind: 'tooLong'; max: number }
  /** Not SCHEME://... at all. */
  | { kind: 'shape' }
  /** A scheme other than tcp, ws and wss (lower case). */
  | { kind: 'scheme'; scheme: string }
  | { kind: 'queryOrFragment' }
  | { kind: 'whiteSpace' }
  | { kind: 'credentials' }
  /** `[` without its `]`. */
  | { kind: 'unterminatedIpv6' }
  /** What follows `[ADDRESS]` when it is not `:PORT`. */
  | { kind: 'afterAddress'; after: string }
  /** What was written between the brackets, as written. */
  | { kind: 'notIpv6'; address: string }
  | { kind: 'ipv6NeedsBrackets' }
  | { kind: 'noHost' }
  /** Neither an IPv4 address nor a DNS name; `host` as written. */
  | { kind: 'host'; host: string }
  /** The port as written, when it is not a number in 1..65535. */
  | { kind: 'port'; port: string }
  /** A scheme without a default port (tcp) and no port written. */
  | { kind: 'needsPort'; scheme: RelayScheme }
  /** A path after tcp://HOST:PORT (only a lone '/' is allowed). */
  | { kind: 'tcpPath' }
  | { kind: 'pathTooLong'; max: number }
  /** A character outside RFC 3986's pchar and '/', or a '%'. */
  | { kind: 'pathCharacters' };

export type RelayUrlCheck = { ok: true; url: RelayUrl } | { ok: false; problem: RelayUrlProblem };

/** What each scheme defaults its port to; tcp has no conventional port, so it must be written. */
const DEFAULT_PORT: Record<RelayScheme, number | undefined> = { tcp: undefined, ws: 80, wss: 443 };
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;
/** RFC 3986 path characters (pchar and '/'), without '%': no escapes to decode. */
const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

const refuse = (problem: RelayUrlProblem): RelayUrlCheck => ({ ok: false, problem });

/**
 * The relay URL `text` is, canonical, or the first rule it breaks. The text is taken as it is: a
 * form that allows surrounding white space trims it first (and sends the trimmed text).
 */
export function checkRelayUrl(text: string): RelayUrlCheck {
  if (text.length > MAX_RELAY_URL) return refuse({ kind: 'tooLong', max: MAX_RELAY_URL });
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (!match) return refuse({ kind: 'shape' });
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'ws' && scheme !== 'wss') return refuse({ kind: 'scheme', scheme });
  const rest = match[2]!;
  if (/[?#]/.test(rest)) return refuse({ kind: 'queryOrFragment' });
  if (/\s/.test(rest)) return refuse({ kind: 'whiteSpace' });

  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const pathText = slash === -1 ? '' : rest.slice(slash);
  if (authority.includes('@')) return refuse({ kind: 'credentials' });

  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) return refuse({ kind: 'unterminatedIpv6' });
    const address = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return refuse({ kind: 'afterAddress', after });
    portText = after === '' ? undefined : after.slice(1);
    const bytes = parseIp(address);
    // parseIp takes a zone id (%eth0) and drops it; a URL has no use for one.
    if (!bytes || bytes.length !== 16 || address.includes('%')) return refuse({ kind: 'notIpv6', address });
    host = formatIp(bytes);
  } else {
    const colon = authority.lastIndexOf(':');
    const written = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    if (written.includes(':')) return refuse({ kind: 'ipv6NeedsBrackets' });
    if (written === '') return refuse({ kind: 'noHost' });
    const bytes = parseIp(written);
    if (bytes) host = formatIp(bytes);
    else {
      host = written.toLowerCase();
      // All digits and dots is an IPv4 address gone wrong (999.1.1.1, 1.2.3), not a name.
      if (/^[0-9.]+$/.test(host) || host.length > MAX_HOST_NAME || !HOSTNAME.test(host))
        return refuse({ kind: 'host', host: written });
    }
  }

  let port = DEFAULT_PORT[scheme];
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      return refuse({ kind: 'port', port: portText });
    port = Number(portText);
  }
  if (port === undefined) return refuse({ kind: 'needsPort', scheme });

  let path: string;
  if (scheme === 'tcp') {
    if (pathText !== '' && pathText !== '/') return refuse({ kind: 'tcpPath' });
    path = '';
  } else {
    path = pathText === '' ? '/' : pathText;
    if (path.length > MAX_RELAY_PATH) return refuse({ kind: 'pathTooLong', max: MAX_RELAY_PATH });
    if (!PATH.test(path)) return refuse({ kind: 'pathCharacters' });
  }
  return { ok: true, url: { scheme, host, port, path } };
}

/** The URL as text again, canonical (lower-case scheme and name, IPv6 in brackets, path kept). */
export function formatRelayUrl(url: RelayUrl): string {
  const host = url.host.includes(':') ? `[${url.host}]` : url.host;
  return `${url.scheme}://${host}:${url.port}${url.path}`;
}
