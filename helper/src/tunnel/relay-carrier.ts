// A tunnel carried through a phantommesh-relay (tcp://, ws://, wss://) instead of UDP: the device and
// its data path stay the same; only where its one peer's datagrams go changes. Datagrams from the
// relay are handed to the device as if they came from the peer's configured endpoint, so roaming and
// `wg show` keep naming the server. With `fallback`, UDP is tried first and the relay carries the
// tunnel only while UDP handshakes go unanswered (conn/transport-fallback.ts decides).

import type { CarriedBy, TransportSetting } from '../../../shared/src/control/protocol.ts';
import { formatEndpoint, type Endpoint } from '../../../shared/src/ip.ts';
import { parseProxyUrl } from '../conn/http-connect.ts';
import { openRelayTransport, type RelayTransport } from '../conn/relay-transport.ts';
import type { KillSwitchEndpoint } from '../net/killswitch.ts';
import { parseRelayUrl } from '../transport/relay-url.ts';
import type { Device } from '../wireguard/device.ts';
import type { EndpointResolver } from './apply-config.ts';

export type RelaySetting = Extract<TransportSetting, { kind: 'relay' }>;

export interface RelayCarrierOptions {
  setting: RelaySetting;
  device: Device;
  /** The mark on the relay connection: a full tunnel's policy routing keeps it outside the tunnel. */
  fwmark: number;
  resolve: EndpointResolver;
  log: (line: string) => void;
}

export class RelayCarrier {
  readonly setting: RelaySetting;
  /** Where the TCP connection goes (the relay, or the proxy), resolved: the kill switch's exception. */
  readonly target: Endpoint;
  private readonly device: Device;
  /** The peer's endpoint as configured: what relayed datagrams come "from". */
  private readonly from: Endpoint;
  private readonly transport: RelayTransport;

  private constructor(
    options: RelayCarrierOptions,
    from: Endpoint,
    target: Endpoint,
    transport: RelayTransport,
  ) {
    this.setting = options.setting;
    this.device = options.device;
    this.from = from;
    this.target = target;
    this.transport = transport;
  }

  static async open(options: RelayCarrierOptions): Promise<RelayCarrier> {
    const { setting, device, log } = options;
    const peers = [...device.peers.values()];
    const peer = peers.find((each) => each.endpoint);
    if (peers.length !== 1 || !peer?.endpoint)
      throw new Error('a relay carries a tunnel with exactly one peer that has an Endpoint');
    const url = parseRelayUrl(setting.url);
    const proxy = setting.proxy !== undefined ? parseProxyUrl(setting.proxy) : null;
    // Resolved now, through the service's resolver (pinned while traffic is blocked): the kill switch
    // allows exactly this address and port.
    const target = proxy
      ? await options.resolve(proxy.host, proxy.port)
      : await options.resolve(url.host, url.port);
    const from = { ...peer.endpoint };
    const holder: { carrier?: RelayCarrier } = {};
    const transport = openRelayTransport({
      spec: {
        url: setting.url,
        ...(setting.proxy !== undefined ? { proxy: setting.proxy } : {}),
        ...(setting.clientCert !== undefined ? { clientCert: setting.clientCert } : {}),
        ...(setting.clientKey !== undefined ? { clientKey: setting.clientKey } : {}),
        ...(setting.ca !== undefined ? { ca: setting.ca } : {}),
      },
      connectAddress: target.address,
      fwmark: options.fwmark,
      onDatagram: (packet) => holder.carrier?.receive(packet),
      log,
    });
    holder.carrier = new RelayCarrier(options, from, target, transport);
    log(`carried through the relay ${setting.url}${proxy ? ` via the proxy ${formatEndpoint(target)}` : ''}`);
    return holder.carrier;
  }

  private receive(packet: Buffer): void {
    this.device.receiveDatagram(packet, this.from, performance.now());
  }

  /** Takes a datagram the device sends to `to` when the relay carries it now; false: UDP does. */
  send(packet: Uint8Array, to: Endpoint): boolean {
    if (to.address !== this.from.address || to.port !== this.from.port) {
      // The peer roamed to an address it proved over UDP: UDP carries what goes there.
      return false;
    }
    this.transport.send(packet);
    return true;
  }

  carriedBy(): CarriedBy {
    const state = this.transport.state;
    return {
      kind: 'relay',
      url: this.setting.url,
      ...(state !== 'connected'
        ? { reason: `relay ${state}${this.transport.lastError ? `: ${this.transport.lastError}` : ''}` }
        : {}),
    };
  }

  /** What the kill switch lets out for this tunnel besides UDP to its peers' endpoints. */
  firewallEndpoints(): KillSwitchEndpoint[] {
    return [{ ...this.target, protocol: 'tcp' }];
  }

  setFwmark(mark: number): void {
    this.transport.setFwmark(mark);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
