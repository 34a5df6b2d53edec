// A wg-quick configuration applied to a WireGuard interface, what `wg-quick up` does after creating
// one: the device's keys, port, fwmark and peers (what `wg setconf` would set), then the addresses,
// the link's MTU and state, and the routes for the peers' AllowedIPs (what wg-quick does with `ip`).

import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import { formatPrefix, maskedPrefix, type Endpoint, type IpPrefix } from '../../../shared/src/ip.ts';
import { decodeKey } from '../../../shared/src/keys.ts';
import { netConfig } from '../net/net.ts';
import type { DeviceChange } from '../wireguard/config.ts';
import { DEFAULT_MTU } from '../wireguard/constants.ts';
import { resolveEndpoint } from './resolve-endpoint.ts';
import type { WireGuardInterface } from './wireguard-interface.ts';
import { monotonicMs } from '../clock.ts';

export interface DeviceChangeOptions {
  /** SO_MARK for the UDP socket; overrides the file's FwMark (a full tunnel needs one). */
  fwmark?: number;
  /** How a peer's endpoint host becomes an address; by default a DNS lookup of a name. */
  resolve?: EndpointResolver;
}

export type EndpointResolver = (host: string, port: number) => Promise<Endpoint>;

/**
 * What the file sets on the device, with the endpoints' host names resolved: it replaces all peers,
 * and leaves the listen port as it is when the file names none.
 */
export async function deviceChangeFor(
  config: TunnelConfig,
  options: DeviceChangeOptions = {},
): Promise<DeviceChange> {
  const fwmark = options.fwmark ?? config.interface.fwMark;
  const { listenPort } = config.interface;
  const resolve = options.resolve ?? resolveEndpoint;
  return {
    privateKey: decodeKey(config.interface.privateKey),
    ...(listenPort !== undefined ? { listenPort } : {}),
    ...(fwmark !== undefined ? { fwmark } : {}),
    replacePeers: true,
    peers: await Promise.all(
      config.peers.map(async (peer) => ({
        publicKey: decodeKey(peer.publicKey)!,
        remove: false,
        updateOnly: false,
        presharedKey: peer.presharedKey ? decodeKey(peer.presharedKey) : null,
        ...(peer.endpoint ? { endpoint: await resolve(peer.endpoint.host, peer.endpoint.port) } : {}),
        persistentKeepalive: peer.persistentKeepalive ?? 0,
        replaceAllowedIps: true,
        addAllowedIps: peer.allowedIps,
        removeAllowedIps: [],
      })),
    ),
  };
}

/**
 * Routes for the AllowedIPs, except those the interface's own addresses already route and default
 * routes (0.0.0.0/0, ::/0), which need policy routing to avoid sending the tunnel into itself.
 */
export function routesFor(config: TunnelConfig): IpPrefix[] {
  const connected = new Set(config.interface.addresses.map((a) => formatPrefix(maskedPrefix(a))));
  const routes = new Map<string, IpPrefix>();
  for (const peer of config.peers) {
    for (const prefix of peer.allowedIps) {
      const network = maskedPrefix(prefix);
      if (network.bits > 0 && !connected.has(formatPrefix(network)))
        routes.set(formatPrefix(network), network);
    }
  }
  return [...routes.values()];
}

/**
 * Applies `config` (with `change`, from deviceChangeFor) to the interface. The routes it adds are
 * removed when the interface closes; the addresses go with the link.
 */
export async function applyConfig(
  iface: WireGuardInterface,
  config: TunnelConfig,
  change: DeviceChange,
): Promise<void> {
  const { name } = iface;
  const net = netConfig();
  await iface.device.apply(change, monotonicMs());

  for (const address of config.interface.addresses) await net.addAddress(name, address);
  await net.setLinkUp(name, config.interface.mtu ?? DEFAULT_MTU);
  // wg-quick's Table: 'off' adds no routes, a number or name puts them in that table.
  const table = config.interface.table;
  if (table !== 'off') {
    const inTable = table && table !== 'auto' ? table : undefined;
    for (const route of routesFor(config)) {
      await net.addRoute(name, route, inTable);
      iface.onClose(() => net.deleteRoute(name, route, inTable));
    }
  }
}
