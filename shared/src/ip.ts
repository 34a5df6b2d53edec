// IP addresses, prefixes and endpoints as text and as bytes. Pure code (no node:net) because the
// renderer imports it too.

export type Family = 4 | 6;

/** A CIDR prefix. `address` is canonical text; host bits are kept as written (wg-quick keeps them). */
export interface IpPrefix {
  address: string;
  bits: number;
  family: Family;
}

/** A resolved UDP endpoint. */
export interface Endpoint {
  address: string;
  port: number;
  family: Family;
}

/** A configured endpoint: `host` may still be a DNS name. */
export interface HostPort {
  host: string;
  port: number;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (!tail) return null;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const words = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/** Parses a literal IPv4 or IPv6 address into 4 or 16 bytes; null when it is not one. */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

export function familyOf(bytes: Uint8Array): Family {
  return bytes.length === 4 ? 4 : 6;
}

/** Formats 4 or 16 bytes as canonical text (RFC 5952 for IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Parses `addr` or `addr/bits`; a bare address is a host prefix (/32 or /128). */
export function parsePrefix(text: string): IpPrefix | null {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseIp(addressText);
  if (!bytes) return null;
  const family = familyOf(bytes);
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const bitsText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return null;
    bits = Number(bitsText);
    if (bits > max) return null;
  }
  return { address: formatIp(bytes), bits, family };
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${prefix.address}/${prefix.bits}`;
}

/** The prefix's network: host bits cleared. */
export function maskedPrefix(prefix: IpPrefix): IpPrefix {
  const bytes = parseIp(prefix.address)!;
  for (let bit = prefix.bits; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { ...prefix, address: formatIp(bytes) };
}

/** Parses `host:port`, `[v6]:port` or `v4:port`. The host is not resolved. */
export function parseHostPort(text: string): HostPort | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    if (!parseIpv6(host)) return null;
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return null;
    host = text.slice(0, colon);
    if (host.includes(':')) return null;
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  if (
    !parseIp(host) &&
    !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(host)
  )
    return null;
  return { host, port };
}

/** `1.2.3.4:51820` or `[2001:db8::1]:51820`, as `wg` prints endpoints. */
export function formatEndpoint(endpoint: { address: string; port: number }): string {
  return endpoint.address.includes(':')
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}
