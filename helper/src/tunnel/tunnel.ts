// One running tunnel: a WireGuard interface (wireguard-interface.ts) with a wg-quick configuration
// applied to it (apply-config.ts). Both the foreground runner and the helper service bring tunnels
// up through this class; what a full tunnel, DNS or the kill switch add on top is the service's
// business.

import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import type { CarriedBy, TransportSetting } from '../../../shared/src/control/protocol.ts';
import { parseIp } from '../../../shared/src/ip.ts';
import { decodeKey } from '../../../shared/src/keys.ts';
import type { Device } from '../wireguard/device.ts';
import { applyConfig, deviceChangeFor, type EndpointResolver } from './apply-config.ts';
import type { KillSwitchEndpoint } from '../net/killswitch.ts';
import type { RelayCarrier } from './relay-carrier.ts';
import { resolveEndpoint } from './resolve-endpoint.ts';
import { WireGuardInterface } from './wireguard-interface.ts';
import { monotonicMs } from '../clock.ts';

/** The inner MTU of a relayed tunnel whose file names none. */
export const RELAY_MTU = 1280;

export interface TunnelOptions {
  name: string;
  config: TunnelConfig;
  log: (line: string) => void;
  /** SO_MARK for the UDP socket; overrides the file's FwMark (a full tunnel needs one). */
  fwmark?: number;
  /** How endpoint host names become addresses (the service pins them while the kill switch blocks). */
  resolve?: EndpointResolver;
  /** Shortens the initiator's rekey age; for tests that watch a rekey happen. */
  rekeyAfterSeconds?: number;
  /** How its datagrams travel: UDP (the default) or a relay. */
  transport?: TransportSetting;
}

export class Tunnel {
  readonly name: string;
  readonly config: TunnelConfig;
  readonly device: Device;
  /** Resolves with a reason when the interface disappears underneath us. */
  readonly closed: Promise<string>;
  private readonly iface: WireGuardInterface;
  private readonly resolve: EndpointResolver;
  private readonly carrier: RelayCarrier | null;

  private constructor(
    iface: WireGuardInterface,
    config: TunnelConfig,
    resolve: EndpointResolver,
    carrier: RelayCarrier | null,
  ) {
    this.name = iface.name;
    this.carrier = carrier;
    this.resolve = resolve;
    this.config = config;
    this.device = iface.device;
    this.closed = iface.closed;
    this.iface = iface;
  }

  /** Brings the tunnel up; on any failure, everything done so far is undone before it throws. */
  static async open(options: TunnelOptions): Promise<Tunnel> {
    const { name, log } = options;
    // Over a relay every datagram rides in a TCP segment: an inner MTU of 1280 keeps one WireGuard
    // packet per segment on a 1500-byte path (what Mullvad sets for WireGuard over TCP). A file that
    // names its MTU keeps it.
    const config =
      options.transport?.kind === 'relay' && options.config.interface.mtu === undefined
        ? { ...options.config, interface: { ...options.config.interface, mtu: RELAY_MTU } }
        : options.config;
    // Endpoints are resolved first: a name that does not resolve fails before anything is created.
    const resolve = options.resolve ?? resolveEndpoint;
    const change = await deviceChangeFor(config, {
      resolve,
      ...(options.fwmark !== undefined ? { fwmark: options.fwmark } : {}),
    });
    const iface = await WireGuardInterface.open({
      name,
      log,
      ...(config.interface.mtu !== undefined ? { mtu: config.interface.mtu } : {}),
      ...(options.rekeyAfterSeconds ? { rekeyAfterSeconds: options.rekeyAfterSeconds } : {}),
    });
    let carrier: RelayCarrier | null = null;
    try {
      await applyConfig(iface, config, change);
      if (options.transport?.kind === 'relay') {
        // Loaded on first use: the relay path (WebSocket, TLS, the proxy client) costs memory that a
        // helper whose tunnels all use UDP never needs.
        const { RelayCarrier } = await import('./relay-carrier.ts');
        carrier = await RelayCarrier.open({
          setting: options.transport,
          device: iface.device,
          fwmark: iface.device.fwmark,
          resolve,
          log,
        });
        const opened = carrier;
        iface.setCarrier(opened);
        iface.onClose(() => opened.close());
      }
    } catch (error) {
      await iface.close();
      throw error;
    }
    log(`PhantomMesh tunnel ${name} is up (UDP port ${iface.device.listenPort}, UAPI ${iface.uapiPath})`);
    return new Tunnel(iface, config, resolve, carrier);
  }

  /** Resolves the peers' endpoint host names again (a server's address may have moved). */
  async reresolveEndpoints(): Promise<void> {
    const now = monotonicMs();
    for (const peer of this.config.peers) {
      if (!peer.endpoint || parseIp(peer.endpoint.host)) continue;
      const endpoint = await this.resolve(peer.endpoint.host, peer.endpoint.port);
      await this.device.apply(
        {
          replacePeers: false,
          peers: [
            {
              publicKey: decodeKey(peer.publicKey)!,
              remove: false,
              updateOnly: true,
              endpoint,
              replaceAllowedIps: false,
              addAllowedIps: [],
              removeAllowedIps: [],
            },
          ],
        },
        now,
      );
    }
  }

  /** The machine's network changed: a relay fallback tries UDP again on the new path. */
  networkChanged(): void {
    this.carrier?.networkChanged();
  }

  /** What carries the tunnel's datagrams now. */
  carriedBy(): CarriedBy {
    return this.carrier?.carriedBy() ?? { kind: 'udp' };
  }

  /** What the kill switch must let out for this tunnel: its peers' UDP endpoints, or what its relay needs. */
  firewallEndpoints(): KillSwitchEndpoint[] {
    if (this.carrier) return this.carrier.firewallEndpoints();
    return [...this.device.peers.values()].flatMap((peer) => (peer.endpoint ? [{ ...peer.endpoint }] : []));
  }

  /** Takes the tunnel down and removes everything it added, newest first. */
  async close(): Promise<void> {
    await this.iface.close();
  }
}
