// A tunnel carried through a phantommesh-relay (tcp://, ws://, wss://) instead of UDP: the device and
// its data path stay the same; only where its one peer's datagrams go changes.
//
// Datagrams from the relay reach the device as if sent from the relay's address (`relayFrom`), so the
// peer's endpoint, which WireGuard sets from every authenticated packet, says which path last proved
// itself: `wg show` and the status name the relay while it carries the tunnel, and the server's UDP
// address while UDP does. With `fallback`, UDP is tried first and the relay carries the tunnel only
// while UDP handshakes go unanswered (conn/transport-fallback.ts decides, from what this sees).

import type { CarriedBy, TransportSetting } from '../../../shared/src/control/protocol.ts';
import { formatEndpoint, type Endpoint } from '../../../shared/src/ip.ts';
import { parseProxyUrl } from '../conn/http-connect.ts';
import { openRelayTransport, type RelayTransport } from '../conn/relay-transport.ts';
import { TransportFallback } from '../conn/transport-fallback.ts';
import type { KillSwitchEndpoint } from '../net/killswitch.ts';
import { parseRelayUrl } from '../transport/relay-url.ts';
import { MESSAGE_INITIATION_TYPE, MESSAGE_RESPONSE_TYPE } from '../wireguard/constants.ts';
import type { Device } from '../wireguard/device.ts';
import type { Peer } from '../wireguard/peer.ts';
import type { EndpointResolver } from './apply-config.ts';
import type { Carrier, UdpSend } from './wireguard-interface.ts';
import { monotonicMs } from '../clock.ts';

export type RelaySetting = Extract<TransportSetting, { kind: 'relay' }>;

/** How often the fallback breaker looks at the peer (its timings are seconds; 100 ms is plenty). */
const FALLBACK_TICK_MS = 100;
/** At most one UDP probe for network changes in this long. */
const NETWORK_PROBE_INTERVAL_MS = 60_000;

export interface RelayCarrierOptions {
  setting: RelaySetting;
  device: Device;
  /** The mark on the relay connection: a full tunnel's policy routing keeps it outside the tunnel. */
  fwmark: number;
  resolve: EndpointResolver;
  log: (line: string) => void;
}

export class RelayCarrier implements Carrier {
  readonly setting: RelaySetting;
  /** Where the TCP connection goes (the relay, or the proxy), resolved: the kill switch's exception. */
  readonly target: Endpoint;
  private readonly device: Device;
  private readonly peer: Peer;
  private readonly options: RelayCarrierOptions;
  /** What relayed datagrams come "from": the target, as its own object (see the file's comment). */
  private readonly relayFrom: Endpoint;
  /** The server's UDP endpoint: as configured, then as UDP last proved it. */
  private udpEndpoint: Endpoint;
  private transport: RelayTransport | null = null;
  private readonly fallback: TransportFallback | null;
  private ticker: NodeJS.Timeout | null = null;
  private lastAnswers: number;
  private lastNetworkProbe = -Infinity;
  private fwmark: number;

  private constructor(options: RelayCarrierOptions, peer: Peer, target: Endpoint) {
    this.options = options;
    this.setting = options.setting;
    this.device = options.device;
    this.peer = peer;
    this.target = target;
    this.relayFrom = { ...target };
    this.udpEndpoint = { ...peer.endpoint! };
    this.fwmark = options.fwmark;
    this.lastAnswers = peer.answersReceived;
    this.fallback = options.setting.fallback ? new TransportFallback() : null;
  }

  static async open(options: RelayCarrierOptions): Promise<RelayCarrier> {
    const { setting, device } = options;
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
    const carrier = new RelayCarrier(options, peer, target);
    options.log(
      `carried through the relay ${setting.url}${proxy ? ` via the proxy ${formatEndpoint(target)}` : ''}` +
        (setting.fallback ? ' when UDP goes unanswered (fallback)' : ''),
    );
    if (carrier.fallback) {
      carrier.fallback.tick(monotonicMs());
      carrier.ticker = setInterval(() => carrier.tick(), FALLBACK_TICK_MS);
      carrier.ticker.unref();
    } else {
      carrier.openTransport();
    }
    return carrier;
  }

  private openTransport(): void {
    if (this.transport) return;
    const { setting } = this;
    this.transport = openRelayTransport({
      spec: {
        url: setting.url,
        ...(setting.proxy !== undefined ? { proxy: setting.proxy } : {}),
        ...(setting.clientCert !== undefined ? { clientCert: setting.clientCert } : {}),
        ...(setting.clientKey !== undefined ? { clientKey: setting.clientKey } : {}),
        ...(setting.ca !== undefined ? { ca: setting.ca } : {}),
      },
      connectAddress: this.target.address,
      fwmark: this.fwmark,
      onDatagram: (packet) => this.device.receiveDatagram(packet, this.relayFrom, monotonicMs()),
      onState: (state) => {
        // A new connection: handshake at once rather than at WireGuard's next retry (up to 5 s).
        if (state === 'connected' && this.sendsOnRelay())
          this.device.initiateHandshake(this.peer, monotonicMs());
      },
      log: this.options.log,
    });
  }

  private closeTransport(): void {
    const transport = this.transport;
    this.transport = null;
    void transport?.close();
  }

  /** Where a datagram goes now: the relay (without fallback, always), or UDP. */
  private sendsOnRelay(): boolean {
    return !this.fallback || this.fallback.decision.transport === 'relay';
  }

  send(packet: Uint8Array, to: Endpoint, udp: UdpSend): void {
    // Our handshake messages wait for an answer: an initiation for the response, a response to the
    // peer's initiation for its first data (key confirmation). When only our UDP is blocked, the
    // peer's initiations still arrive and WireGuard answers them instead of initiating itself.
    if (
      this.fallback &&
      packet.length >= 4 &&
      (packet[0] === MESSAGE_INITIATION_TYPE || packet[0] === MESSAGE_RESPONSE_TYPE)
    )
      this.fallback.handshakeSent(monotonicMs());
    if (this.sendsOnRelay()) {
      this.transport?.send(packet);
      return;
    }
    // UDP: to the server's UDP endpoint, also when the peer's endpoint still names the relay.
    if (to !== this.relayFrom && !sameEndpoint(to, this.relayFrom)) this.udpEndpoint = to;
    udp(packet, this.udpEndpoint);
  }

  /** The fallback breaker's clock: what authenticated since the last look, and where it came from. */
  private tick(): void {
    const fallback = this.fallback!;
    const now = monotonicMs();
    // Only answers prove that UDP reaches the peer: its own initiations reach us however our side is
    // blocked (the peer retries them every 5 s, which would otherwise look like a working UDP).
    if (this.peer.answersReceived !== this.lastAnswers) {
      this.lastAnswers = this.peer.answersReceived;
      const endpoint = this.peer.endpoint;
      const viaRelay =
        endpoint === this.relayFrom || (endpoint !== null && sameEndpoint(endpoint, this.relayFrom));
      fallback.authenticatedReceived(now, viaRelay ? 'relay' : 'udp');
    }
    const before = fallback.decision;
    const after = fallback.tick(now);
    if (after.transport === before.transport && after.probing === before.probing) return;
    this.options.log(
      `transport: ${after.transport === 'relay' ? `relay ${this.setting.url}` : 'UDP'} (${after.reason})`,
    );
    if (after.transport === 'relay') {
      // UDP just failed here: that is fresher news than any network event in the next minute.
      this.lastNetworkProbe = now;
      this.openTransport();
      if (this.transport?.state === 'connected') this.device.initiateHandshake(this.peer, now);
    } else {
      // UDP again (a probe, or the start): its handshake goes out now, timed from the probe's start.
      this.device.initiateHandshake(this.peer, now);
      if (!after.probing) this.closeTransport();
    }
  }

  carriedBy(): CarriedBy {
    if (!this.sendsOnRelay())
      return { kind: 'udp', ...(this.fallback ? { reason: this.fallback.decision.reason } : {}) };
    const transport = this.transport;
    const problem =
      transport && transport.state !== 'connected'
        ? `relay ${transport.state}${transport.lastError ? `: ${transport.lastError}` : ''}`
        : undefined;
    const reason = [this.fallback?.decision.reason, problem].filter(Boolean).join('; ');
    return { kind: 'relay', url: this.setting.url, ...(reason ? { reason } : {}) };
  }

  /**
   * What the kill switch lets out for this tunnel: TCP to the relay (or proxy) and, with fallback,
   * UDP to the server. The set does not change when the fallback switches, so nothing leaks or is cut
   * off in between.
   */
  firewallEndpoints(): KillSwitchEndpoint[] {
    return [...(this.fallback ? [{ ...this.udpEndpoint }] : []), { ...this.target, protocol: 'tcp' }];
  }

  /**
   * Another network (Wi-Fi, a cable): while the relay carries the tunnel, UDP is probed at once on
   * the new path. Not while UDP carries it (an unanswered handshake there is still evidence, and
   * WireGuard handshakes again anyway), and at most once a NETWORK_PROBE_INTERVAL_MS: link events
   * come in bursts, and some are no change of network at all (a capture putting a link in
   * promiscuous mode), while every probe that fails costs up to 5 s of traffic. The minute also
   * counts from a fall back to the relay, UDP's failure being the newest news.
   */
  networkChanged(): void {
    const now = monotonicMs();
    if (!this.fallback || this.fallback.decision.transport !== 'relay') return;
    if (now - this.lastNetworkProbe < NETWORK_PROBE_INTERVAL_MS) return;
    this.lastNetworkProbe = now;
    this.fallback.networkChanged(now);
  }

  setFwmark(mark: number): void {
    this.fwmark = mark;
    this.transport?.setFwmark(mark);
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const transport = this.transport;
    this.transport = null;
    await transport?.close();
  }
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.address === b.address && a.port === b.port;
}
