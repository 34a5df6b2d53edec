// A wg-quick configuration file as data: the `wg` keys plus wg-quick's own Interface keys.

import type { HostPort, IpPrefix } from '../ip.ts';

export interface InterfaceConfig {
  /** Base64 as written; the parser has checked that it decodes to 32 bytes. */
  privateKey: string;
  /** Host bits are kept as written, like wg-quick (`10.0.0.2/24` is address 10.0.0.2 on a /24). */
  addresses: IpPrefix[];
  /** DNS entries that are IP addresses: the nameservers. */
  dns: string[];
  /** DNS entries that are not IP addresses: search domains, as wg-quick treats them. */
  dnsSearch: string[];
  mtu?: number;
  /** 0 asks for a random port, like leaving it out. */
  listenPort?: number;
  /** 'auto', 'off', or a routing table number or name, kept as text. */
  table?: string;
  fwMark?: number;
  /** Shell commands run by wg-quick, verbatim (`%i` is left for the runner to replace). */
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean;
}

export interface PeerConfig {
  publicKey: string;
  presharedKey?: string;
  allowedIps: IpPrefix[];
  /** The host may be a DNS name, resolved when the tunnel comes up. */
  endpoint?: HostPort;
  persistentKeepalive?: number;
}

export interface TunnelConfig {
  interface: InterfaceConfig;
  peers: PeerConfig[];
}

/** Hooks run shell commands as root, so callers warn about (or refuse) files that have them. */
export function hasScriptHooks(cfg: TunnelConfig): boolean {
  const { preUp, postUp, preDown, postDown } = cfg.interface;
  return preUp.length + postUp.length + preDown.length + postDown.length > 0;
}
