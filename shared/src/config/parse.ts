// The wg-quick file parser. It follows `wg` (src/config.c) and wg-quick (parse_options): section names
// and keys are case-insensitive, `#` starts a comment anywhere (hooks included, as in wg-quick), list
// keys repeat and take comma-separated items, and anything unknown is an error rather than ignored,
// because a silently dropped line in a VPN config can mean traffic leaves outside the tunnel.

import { ConfigError } from '../errors.ts';
import { formatPrefix, maskedPrefix, parseHostPort, parseIp, parsePrefix, type IpPrefix } from '../ip.ts';
import { decodeBase64, KEY_LEN } from '../keys.ts';
import type { InterfaceConfig, PeerConfig, TunnelConfig } from './types.ts';

/** What is wrong with a value; setKey adds what was expected, the line and the key. */
class Problem extends Error {}

interface Rule<T> {
  name: string;
  expected: string;
  /** List and hook keys may appear on several lines; the others only once per section. */
  repeats?: boolean;
  /** An empty list is valid (`AllowedIPs =` routes nothing, as in wg). */
  allowsEmpty?: boolean;
  apply(target: T, value: string): void;
}

const KEY_TEXT_LEN = 44;
const KEY_TEXT = `a key: ${KEY_TEXT_LEN} base64 characters ending in "="`;
const PREFIX_TEXT = 'e.g. 10.0.0.0/24 or fd00::/64';
// 576 is the smallest packet every IPv4 host must accept (RFC 791), so lower values break ordinary
// traffic (Linux itself refuses below 68); 65535 is the largest IP packet a TUN device can carry.
const MTU_MIN = 576;
const MTU_MAX = 65535;

function notA(text: string, what: string): Problem {
  return new Problem(`"${text}" is not ${what}`);
}

// Key values are never echoed: a mistyped private key is still nearly the secret.
function parseKey(value: string): string {
  if (value.length !== KEY_TEXT_LEN)
    throw new Problem(`is ${value.length} characters long, not ${KEY_TEXT_LEN}`);
  const bytes = decodeBase64(value);
  if (!bytes) throw new Problem('is not valid base64');
  if (bytes.length !== KEY_LEN) throw new Problem(`decodes to ${bytes.length} bytes, not ${KEY_LEN}`);
  return value;
}

function number(value: string, min: number, max: number, hex = false): number {
  let n = NaN;
  if (/^[0-9]{1,10}$/.test(value)) n = Number(value);
  else if (hex && /^0x[0-9a-f]{1,8}$/i.test(value)) n = parseInt(value, 16);
  if (Number.isNaN(n)) throw notA(value, 'a number');
  if (n < min || n > max) throw new Problem(`${value} is out of range`);
  return n;
}

/** `off` and 0 both mean "not set", as in wg. */
function offOrNumber(value: string, max: number, hex = false): number | undefined {
  return value.toLowerCase() === 'off' ? undefined : number(value, 0, max, hex) || undefined;
}

function items(value: string, separator: RegExp): string[] {
  return value
    .split(separator)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function prefixes(value: string, separator: RegExp): IpPrefix[] {
  return items(value, separator).map((item) => parsePrefix(item) ?? fail(notA(item, 'an IP prefix')));
}

/** Routing tables of the system itself: unspec (0), default (253), main (254), local (255). */
const SYSTEM_TABLES = new Set([0, 253, 254, 255]);
const SYSTEM_TABLE_NAMES = new Set(['unspec', 'default', 'main', 'local']);

/**
 * Addresses no peer can stand for: loopback, multicast, "this network" and the unspecified address.
 * Routing them to a tunnel would take them from the machine itself (127.0.0.53 unbindable). Wider
 * prefixes that merely contain them (0.0.0.0/0, 0.0.0.0/1) are fine: the local table still wins.
 */
const HOST_ONLY: IpPrefix[] = [
  '127.0.0.0/8',
  '224.0.0.0/4',
  '0.0.0.0/8',
  '::1/128',
  'ff00::/8',
  '::/128',
].map((text) => parsePrefix(text)!);

function isHostOnly(prefix: IpPrefix): boolean {
  return HOST_ONLY.some(
    (range) =>
      range.family === prefix.family &&
      prefix.bits >= range.bits &&
      formatPrefix(maskedPrefix({ ...prefix, bits: range.bits })) === formatPrefix(range),
  );
}

/**
 * A section header as errors may show it: a short plain name is quoted, anything else is not, since
 * a mangled file can put a key inside brackets (found by the fuzz campaign: "[PublicKey = <key>]").
 */
function sectionText(line: string): string {
  return /^\[[A-Za-z][A-Za-z0-9 _-]{0,23}\]$/.test(line) ? `"${line}"` : 'this section header';
}

function fail(problem: Problem): never {
  throw problem;
}

// Longer than any real key (PersistentKeepalive) yet shorter than a base64 key.
const KEY_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

// The last label must have a letter so that a mistyped address (`10.0.0.300`) is not taken for a domain.
function isSearchDomain(text: string): boolean {
  const labels = text.replace(/\.$/, '').split('.');
  return labels.every((label) => LABEL.test(label)) && /[A-Za-z]/.test(labels[labels.length - 1]);
}

function setIfDefined<T, K extends keyof T>(target: T, field: K, value: T[K] | undefined): void {
  if (value !== undefined) target[field] = value;
}

function hook(name: string, field: 'preUp' | 'postUp' | 'preDown' | 'postDown'): Rule<InterfaceConfig> {
  return { name, expected: 'a shell command', repeats: true, apply: (c, v) => void c[field].push(v) };
}

// wg-quick splits Address and DNS on white space as well as commas; wg splits AllowedIPs on commas only.
const INTERFACE_RULES: Rule<InterfaceConfig>[] = [
  { name: 'PrivateKey', expected: KEY_TEXT, apply: (c, v) => void (c.privateKey = parseKey(v)) },
  {
    name: 'Address',
    expected: PREFIX_TEXT,
    repeats: true,
    allowsEmpty: true,
    apply: (c, v) => void c.addresses.push(...prefixes(v, /[\s,]+/)),
  },
  {
    name: 'DNS',
    expected: 'e.g. 10.64.0.1, fd00::1 or corp.example.com',
    repeats: true,
    allowsEmpty: true,
    apply: (c, v) => {
      for (const item of items(v, /[\s,]+/)) {
        if (parseIp(item)) c.dns.push(item);
        else if (isSearchDomain(item)) c.dnsSearch.push(item);
        else throw notA(item, 'an IP address or a search domain');
      }
    },
  },
  {
    name: 'MTU',
    expected: `a number from ${MTU_MIN} to ${MTU_MAX}`,
    apply: (c, v) => void (c.mtu = number(v, MTU_MIN, MTU_MAX)),
  },
  {
    // The helper binds as root: a port below 1024 would let a group member take a privileged one.
    name: 'ListenPort',
    expected: 'a port from 1024 to 65535, or 0 for a random one',
    apply: (c, v) => {
      const port = number(v, 0, 65535);
      if (port !== 0 && port < 1024) throw new Problem(`${v} is a privileged port`);
      c.listenPort = port;
    },
  },
  {
    // The system's own tables (local, main, default) are the host's routing, not the tunnel's: routes
    // put there could shadow loopback or the LAN for everyone.
    name: 'Table',
    expected: 'auto, off, or a table of its own: a number from 1 to 252 or above 255, or a name',
    apply: (c, v) => {
      const lower = v.toLowerCase();
      if (lower === 'auto' || lower === 'off') c.table = lower;
      else if (/^[A-Za-z][A-Za-z0-9_.-]*$/.test(v)) {
        if (SYSTEM_TABLE_NAMES.has(lower)) throw new Problem(`${v} is a system routing table`);
        c.table = v;
      } else {
        const table = number(v, 0, 0xffffffff);
        if (SYSTEM_TABLES.has(table)) throw new Problem(`${v} is a system routing table`);
        c.table = String(table);
      }
    },
  },
  {
    // A full tunnel's routes go to the table numbered like the mark, so the same tables are refused.
    name: 'FwMark',
    expected: 'off, or a 32-bit number (decimal or 0x hex) other than 253, 254 and 255',
    apply: (c, v) => {
      const mark = offOrNumber(v, 0xffffffff, true);
      if (mark !== undefined && SYSTEM_TABLES.has(mark)) throw new Problem(`${v} is a system routing table`);
      setIfDefined(c, 'fwMark', mark);
    },
  },
  hook('PreUp', 'preUp'),
  hook('PostUp', 'postUp'),
  hook('PreDown', 'preDown'),
  hook('PostDown', 'postDown'),
  {
    name: 'SaveConfig',
    expected: 'true or false',
    apply: (c, v) => {
      if (!/^(true|false)$/i.test(v)) throw notA(v, 'true or false');
      c.saveConfig = v.toLowerCase() === 'true';
    },
  },
];

const PEER_RULES: Rule<PeerConfig>[] = [
  { name: 'PublicKey', expected: KEY_TEXT, apply: (p, v) => void (p.publicKey = parseKey(v)) },
  { name: 'PresharedKey', expected: KEY_TEXT, apply: (p, v) => void (p.presharedKey = parseKey(v)) },
  {
    name: 'AllowedIPs',
    expected: PREFIX_TEXT,
    repeats: true,
    allowsEmpty: true,
    apply: (p, v) => {
      const parsed = prefixes(v, /,/);
      const special = parsed.find(isHostOnly);
      if (special) throw new Problem(`${formatPrefix(special)} is loopback, multicast or unspecified`);
      p.allowedIps.push(...parsed);
    },
  },
  {
    name: 'Endpoint',
    expected: 'host:port, e.g. 203.0.113.1:51820, [2001:db8::1]:51820 or vpn.example.com:51820',
    apply: (p, v) => void (p.endpoint = parseHostPort(v) ?? fail(notA(v, 'an endpoint'))),
  },
  {
    name: 'PersistentKeepalive',
    expected: 'seconds from 1 to 65535, or off',
    apply: (p, v) => setIfDefined(p, 'persistentKeepalive', offOrNumber(v, 65535)),
  },
];

function byName<T>(rules: Rule<T>[]): Map<string, Rule<T>> {
  return new Map(rules.map((rule) => [rule.name.toLowerCase(), rule]));
}

const INTERFACE = byName(INTERFACE_RULES);
const PEER = byName(PEER_RULES);

/** One section: its header line, what it builds, and the first line of each key it has had. */
interface Section<T> {
  line: number;
  target: T;
  seen: Map<string, number>;
}

type Current =
  | { kind: 'none' }
  // An unknown or repeated section header, whose error stands for the keys under it.
  | { kind: 'skip' }
  | { kind: 'interface'; section: Section<InterfaceConfig> }
  | { kind: 'peer'; section: Section<PeerConfig> };

/** `known` is the key's proper name when it belongs to some section. */
function findRule<T>(
  rules: Map<string, Rule<T>>,
  title: string,
  key: string,
  known: string | undefined,
  line: number,
): Rule<T> {
  const rule = rules.get(key.toLowerCase());
  if (rule) return rule;
  if (known)
    throw new ConfigError(
      line,
      known,
      `belongs in ${title === '[Peer]' ? '[Interface]' : '[Peer]'}, not ${title}`,
    );
  const names = [...rules.values()].map((r) => r.name).join(', ');
  throw new ConfigError(line, key, `is not a known ${title} key (expected one of ${names})`);
}

function setKey<T>(section: Section<T>, rule: Rule<T>, value: string, line: number): void {
  const first = section.seen.get(rule.name);
  if (first !== undefined && !rule.repeats) {
    throw new ConfigError(
      line,
      rule.name,
      `is given twice (first on line ${first}; expected once per section)`,
    );
  }
  section.seen.set(rule.name, first ?? line);
  if (value === '' && !rule.allowsEmpty)
    throw new ConfigError(line, rule.name, `is empty (expected ${rule.expected})`);
  try {
    rule.apply(section.target, value);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    throw new ConfigError(line, rule.name, `${error.message} (expected ${rule.expected})`);
  }
}

function checkDuplicatePeer(seen: Map<string, number>, publicKey: string, line: number): void {
  const first = seen.get(publicKey);
  if (first !== undefined) {
    throw new ConfigError(
      line,
      'PublicKey',
      `${publicKey} is already a peer on line ${first} (expected each peer once)`,
    );
  }
  seen.set(publicKey, line);
}

/** An [Interface] with nothing set: where parsing starts, and the base of tests' configs. */
export function emptyInterface(): InterfaceConfig {
  return {
    privateKey: '',
    addresses: [],
    dns: [],
    dnsSearch: [],
    preUp: [],
    postUp: [],
    preDown: [],
    postDown: [],
    saveConfig: false,
  };
}

/** Parses a whole file and reports every problem, each tied to its line, for editors. */
export function checkConfig(text: string): { config: TunnelConfig | null; errors: ConfigError[] } {
  const errors: ConfigError[] = [];
  let iface: Section<InterfaceConfig> | undefined;
  const peers: Section<PeerConfig>[] = [];
  const peerKeyLines = new Map<string, number>();
  let current: Current = { kind: 'none' };

  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let index = 0; index < lines.length; index++) {
    const n = index + 1;
    const raw = lines[index];
    const hash = raw.indexOf('#');
    const line = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (line === '') continue;

    if (line.startsWith('[')) {
      // wg ignores white space anywhere in a line, so `[ Peer ]` is a Peer header.
      const name = line.replace(/\s+/g, '').toLowerCase();
      if (name === '[peer]') {
        const section: Section<PeerConfig> = {
          line: n,
          target: { publicKey: '', allowedIps: [] },
          seen: new Map(),
        };
        peers.push(section);
        current = { kind: 'peer', section };
      } else if (name === '[interface]' && !iface) {
        iface = { line: n, target: emptyInterface(), seen: new Map() };
        current = { kind: 'interface', section: iface };
      } else {
        const problem =
          iface && name === '[interface]'
            ? `[Interface] appears again (first on line ${iface.line}; expected exactly one)`
            : `${sectionText(line)} is not a known section (expected [Interface] or [Peer])`;
        errors.push(new ConfigError(n, undefined, problem));
        current = { kind: 'skip' };
      }
      continue;
    }

    const eq = line.indexOf('=');
    const key = eq === -1 ? '' : line.slice(0, eq).trim();
    // Neither the line nor a doubtful key is quoted: a pasted key ends in "=" and would be echoed.
    if (!KEY_NAME.test(key)) {
      const what = eq === -1 ? 'has no "="' : 'has no key name before "="';
      errors.push(
        new ConfigError(n, undefined, `this line ${what} (expected Key = Value or a [Section] header)`),
      );
      continue;
    }
    const value = line.slice(eq + 1).trim();
    const known = INTERFACE.get(key.toLowerCase())?.name ?? PEER.get(key.toLowerCase())?.name;
    try {
      if (current.kind === 'none') {
        throw new ConfigError(
          n,
          known ?? key,
          'comes before any section (expected [Interface] or [Peer] above it)',
        );
      } else if (current.kind === 'interface') {
        setKey(current.section, findRule(INTERFACE, '[Interface]', key, known, n), value, n);
      } else if (current.kind === 'peer') {
        const rule = findRule(PEER, '[Peer]', key, known, n);
        setKey(current.section, rule, value, n);
        if (rule.name === 'PublicKey') checkDuplicatePeer(peerKeyLines, current.section.target.publicKey, n);
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
    }
  }

  if (!iface)
    errors.push(new ConfigError(1, undefined, 'there is no [Interface] section (expected exactly one)'));
  else if (!iface.seen.has('PrivateKey')) {
    errors.push(
      new ConfigError(iface.line, 'PrivateKey', `is missing from [Interface] (expected ${KEY_TEXT})`),
    );
  }
  for (const peer of peers) {
    if (!peer.seen.has('PublicKey')) {
      errors.push(
        new ConfigError(peer.line, 'PublicKey', "is missing from [Peer] (expected the peer's public key)"),
      );
    }
  }

  errors.sort((a, b) => a.line - b.line);
  const config =
    iface && errors.length === 0 ? { interface: iface.target, peers: peers.map((p) => p.target) } : null;
  return { config, errors };
}

/** Parses a wg-quick file; throws the first problem (by line) as a ConfigError. */
export function parseConfig(text: string): TunnelConfig {
  const { config, errors } = checkConfig(text);
  if (!config) throw errors[0];
  return config;
}
