// The text of WireGuard's cross-platform configuration protocol (https://www.wireguard.com/xplatform/):
// `set=1` bodies become a DeviceChange, a DeviceSnapshot becomes the `get=1` answer.

import {
  familyOf,
  formatEndpoint,
  formatIp,
  formatPrefix,
  parseIp,
  type Endpoint,
  type IpPrefix,
} from '../../../shared/src/ip.ts';
import type { DeviceChange, DeviceSnapshot, PeerChange } from '../wireguard/config.ts';
import { UapiError } from './types.ts';

const EINVAL = -22;
const EPROTO = -71;
const KEY_LENGTH = 32;

/**
 * The key of a request line, for messages: never its value, which may be a private or preshared key
 * (the helper's log, where these messages go, is readable by every member of the phantommesh group).
 */
function keyOf(line: string): string {
  const key = line.slice(0, Math.max(0, line.indexOf('=')));
  return /^[a-z_]{1,32}$/.test(key) ? key : '(a key that is not one)';
}

function invalid(line: string, problem: string): UapiError {
  return new UapiError(EINVAL, `${keyOf(line)}: ${problem} (the value is not shown)`);
}

function parseKey(line: string, value: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw invalid(line, 'a key must be 64 hex digits');
  const key = new Uint8Array(KEY_LENGTH);
  for (let i = 0; i < KEY_LENGTH; i++) key[i] = parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return key;
}

/** The all-zero key means "none" for private_key and preshared_key. */
function parseMaybeZeroKey(line: string, value: string): Uint8Array | null {
  const key = parseKey(line, value);
  return key.every((byte) => byte === 0) ? null : key;
}

function parseUint(line: string, value: string, max: number): number {
  if (!/^[0-9]+$/.test(value) || Number(value) > max) throw invalid(line, `expected an integer 0-${max}`);
  return Number(value);
}

function parseTrue(line: string, value: string): true {
  if (value !== 'true') throw invalid(line, 'the only valid value is "true"');
  return true;
}

/** `a.b.c.d:port` or `[v6]:port`, literal addresses only: resolving names is the client's job. */
function parseEndpoint(line: string, value: string): Endpoint {
  const [, v6, v4, portText] = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(value) ?? [];
  const bytes = parseIp(v6 ?? v4 ?? '');
  const port = Number(portText);
  // A bracketed address must be IPv6 and a bare one IPv4; port 0 cannot be sent to.
  if (!bytes || bytes.length !== (v6 === undefined ? 4 : 16) || !(port >= 1 && port <= 65535))
    throw invalid(line, 'expected an endpoint a.b.c.d:port or [v6]:port');
  return { address: formatIp(bytes), port, family: familyOf(bytes) };
}

/**
 * Always `address/bits` (wireguard-go uses netip.ParsePrefix); the result has its host bits cleared.
 * Parsed once and masked here rather than through maskedPrefix: `wg setconf` may send 100k of these.
 */
function parseAllowedIp(line: string, value: string): IpPrefix {
  const [, address, bitsText] = /^([0-9a-fA-F:.]+)\/(0|[1-9][0-9]{0,2})$/.exec(value) ?? [];
  const bytes = parseIp(address ?? '');
  const bits = Number(bitsText);
  if (!bytes || !(bits <= bytes.length * 8)) throw invalid(line, 'expected a prefix address/bits');
  for (let bit = bits; bit < bytes.length * 8; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { address: formatIp(bytes), bits, family: familyOf(bytes) };
}

/**
 * A peer being parsed. Adds and removals are kept by prefix so that the later of `allowed_ip=P` and
 * `allowed_ip=-P` wins, whatever order the device applies the two lists in.
 */
interface PeerDraft {
  change: PeerChange;
  add: Map<string, IpPrefix>;
  remove: Map<string, IpPrefix>;
}

function finishPeer(draft: PeerDraft): PeerChange {
  draft.change.addAllowedIps = [...draft.add.values()];
  draft.change.removeAllowedIps = [...draft.remove.values()];
  return draft.change;
}

function applyDeviceLine(change: DeviceChange, line: string, key: string, value: string): void {
  switch (key) {
    case 'private_key':
      change.privateKey = parseMaybeZeroKey(line, value);
      return;
    case 'listen_port':
      change.listenPort = parseUint(line, value, 0xffff);
      return;
    case 'fwmark':
      change.fwmark = parseUint(line, value, 0xffffffff);
      return;
    case 'replace_peers':
      change.replacePeers = parseTrue(line, value);
      return;
    default:
      throw invalid(line, `unknown interface key ${JSON.stringify(key)}`);
  }
}

function applyPeerLine(draft: PeerDraft, line: string, key: string, value: string): void {
  const peer = draft.change;
  switch (key) {
    case 'remove':
      peer.remove = parseTrue(line, value);
      return;
    case 'update_only':
      peer.updateOnly = parseTrue(line, value);
      return;
    case 'preshared_key':
      peer.presharedKey = parseMaybeZeroKey(line, value);
      return;
    case 'endpoint':
      peer.endpoint = parseEndpoint(line, value);
      return;
    case 'persistent_keepalive_interval':
      peer.persistentKeepalive = parseUint(line, value, 0xffff);
      return;
    case 'replace_allowed_ips':
      peer.replaceAllowedIps = parseTrue(line, value);
      // Lines before it are undone by it, as when wireguard-go applies them one by one.
      draft.add.clear();
      draft.remove.clear();
      return;
    case 'allowed_ip': {
      const removal = value.startsWith('-');
      const prefix = parseAllowedIp(line, removal ? value.slice(1) : value);
      const text = formatPrefix(prefix);
      draft[removal ? 'add' : 'remove'].delete(text);
      draft[removal ? 'remove' : 'add'].set(text, prefix);
      return;
    }
    case 'protocol_version':
      if (value !== '1') throw invalid(line, 'the only protocol_version is 1');
      return;
    default:
      throw invalid(line, `unknown peer key ${JSON.stringify(key)}`);
  }
}

/**
 * Parses the body of a `set=1` request: the lines after `set=1`, without the blank line that ends it.
 * Interface keys come first; each `public_key` starts a peer that the following keys belong to.
 */
export function parseSetRequest(lines: string[]): DeviceChange {
  const change: DeviceChange = { replacePeers: false, peers: [] };
  let draft: PeerDraft | null = null;
  for (const [index, line] of lines.entries()) {
    const equals = line.indexOf('=');
    if (equals === -1) throw new UapiError(EPROTO, `line ${index + 2} is not key=value (it is not shown)`);
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (key === 'public_key') {
      if (draft) change.peers.push(finishPeer(draft));
      const publicKey = parseKey(line, value);
      draft = {
        change: {
          publicKey,
          remove: false,
          updateOnly: false,
          replaceAllowedIps: false,
          addAllowedIps: [],
          removeAllowedIps: [],
        },
        add: new Map(),
        remove: new Map(),
      };
    } else if (draft) {
      applyPeerLine(draft, line, key, value);
    } else {
      applyDeviceLine(change, line, key, value);
    }
  }
  if (draft) change.peers.push(finishPeer(draft));
  return change;
}

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

/** The answer to `get=1`, line for line as wireguard-go 0.0.20220316 prints it, `errno=0` included. */
export function formatGetResponse(snapshot: DeviceSnapshot): string {
  const lines: string[] = [];
  if (snapshot.privateKey && snapshot.privateKey.some((byte) => byte !== 0))
    lines.push(`private_key=${hex(snapshot.privateKey)}`);
  if (snapshot.listenPort !== 0) lines.push(`listen_port=${snapshot.listenPort}`);
  if (snapshot.fwmark !== 0) lines.push(`fwmark=${snapshot.fwmark}`);
  for (const peer of snapshot.peers) {
    lines.push(`public_key=${hex(peer.publicKey)}`);
    lines.push(`preshared_key=${hex(peer.presharedKey ?? new Uint8Array(KEY_LENGTH))}`);
    lines.push('protocol_version=1');
    if (peer.endpoint) lines.push(`endpoint=${formatEndpoint(peer.endpoint)}`);
    lines.push(`last_handshake_time_sec=${peer.lastHandshake?.sec ?? 0}`);
    lines.push(`last_handshake_time_nsec=${peer.lastHandshake?.nsec ?? 0}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepalive}`);
    for (const prefix of peer.allowedIps) lines.push(`allowed_ip=${formatPrefix(prefix)}`);
  }
  lines.push('errno=0', '', '');
  return lines.join('\n');
}
