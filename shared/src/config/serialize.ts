// Writes a TunnelConfig as a canonical wg-quick file that parseConfig reads back to the same value.

import { PhantomError } from '../errors.ts';
import { formatEndpoint, formatPrefix } from '../ip.ts';
import type { TunnelConfig } from './types.ts';

// A value holding `#` or a line break would come back cut short (wg-quick strips comments inside hooks
// too), so it is refused rather than written wrong. The value is not quoted: it may be a key.
function line(key: string, value: string): string {
  if (/[#\r\n]/.test(value)) {
    throw new PhantomError('CONFIG_INVALID', `${key} cannot be written: its value holds "#" or a line break`);
  }
  return `${key} = ${value}`;
}

export interface SerializeOptions {
  /** false: without PrivateKey and PresharedKey, what may leave the helper for anyone but root. */
  secrets?: boolean;
}

export function serializeConfig(cfg: TunnelConfig, options: SerializeOptions = {}): string {
  const secrets = options.secrets ?? true;
  const i = cfg.interface;
  const out = ['[Interface]', ...(secrets ? [line('PrivateKey', i.privateKey)] : [])];
  if (i.addresses.length > 0) out.push(line('Address', i.addresses.map(formatPrefix).join(', ')));
  if (i.dns.length + i.dnsSearch.length > 0) out.push(line('DNS', [...i.dns, ...i.dnsSearch].join(', ')));
  if (i.mtu !== undefined) out.push(line('MTU', String(i.mtu)));
  if (i.listenPort !== undefined) out.push(line('ListenPort', String(i.listenPort)));
  if (i.table !== undefined) out.push(line('Table', i.table));
  // Hex, as `wg showconf` prints it.
  if (i.fwMark !== undefined) out.push(line('FwMark', `0x${i.fwMark.toString(16)}`));
  for (const command of i.preUp) out.push(line('PreUp', command));
  for (const command of i.postUp) out.push(line('PostUp', command));
  for (const command of i.preDown) out.push(line('PreDown', command));
  for (const command of i.postDown) out.push(line('PostDown', command));
  if (i.saveConfig) out.push(line('SaveConfig', 'true'));

  for (const peer of cfg.peers) {
    out.push('', '[Peer]', line('PublicKey', peer.publicKey));
    if (secrets && peer.presharedKey !== undefined) out.push(line('PresharedKey', peer.presharedKey));
    if (peer.allowedIps.length > 0)
      out.push(line('AllowedIPs', peer.allowedIps.map(formatPrefix).join(', ')));
    if (peer.endpoint) {
      out.push(line('Endpoint', formatEndpoint({ address: peer.endpoint.host, port: peer.endpoint.port })));
    }
    if (peer.persistentKeepalive !== undefined)
      out.push(line('PersistentKeepalive', String(peer.persistentKeepalive)));
  }
  return out.join('\n') + '\n';
}
