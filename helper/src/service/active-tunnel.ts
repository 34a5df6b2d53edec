// A tunnel the service has brought up: the tunnel itself, what a full tunnel and DNS add on top
// (journaled, so a crash can be undone), and the connection monitor that reports its state.

import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import type { TransportSetting, TunnelStatus } from '../../../shared/src/control/protocol.ts';
import { formatEndpoint, formatPrefix } from '../../../shared/src/ip.ts';
import { applyDns, restoreDns } from '../net/dns.ts';
import { disableFullTunnel, enableFullTunnel } from '../net/net.ts';
import type { NetworkJournal } from '../net/network-journal.ts';
import { Connection, type ConnectionStatus } from '../tunnel/reconnect-supervisor.ts';
import type { EndpointResolver } from '../tunnel/apply-config.ts';
import { Tunnel } from '../tunnel/tunnel.ts';

/** wg-quick's fwmark for a tunnel's own UDP packets: a full tunnel's bypass its table with it, and
 *  the kill switch lets only them reach the endpoints (a split tunnel's are marked too). */
export const FULL_TUNNEL_FWMARK = 51820;

export interface ActiveTunnelOptions {
  name: string;
  config: TunnelConfig;
  journal: NetworkJournal;
  log: (line: string) => void;
  onStatus: (status: TunnelStatus) => void;
  /** How endpoint host names become addresses (see TunnelManager: pinned while traffic is blocked). */
  resolve?: EndpointResolver;
  /** How its datagrams travel (default UDP). */
  transport?: TransportSetting;
}

function fullTunnelFamilies(config: TunnelConfig): { v4: boolean; v6: boolean } {
  const defaults = config.peers.flatMap((peer) => peer.allowedIps.filter((prefix) => prefix.bits === 0));
  return { v4: defaults.some((p) => p.family === 4), v6: defaults.some((p) => p.family === 6) };
}

export class ActiveTunnel {
  readonly name: string;
  readonly config: TunnelConfig;
  readonly tunnel: Tunnel;
  readonly connection: Connection;
  readonly upSince = Date.now();
  reconnects = 0;
  private readonly journal: NetworkJournal;

  private constructor(options: ActiveTunnelOptions, tunnel: Tunnel, connection: Connection) {
    this.name = options.name;
    this.config = options.config;
    this.journal = options.journal;
    this.tunnel = tunnel;
    this.connection = connection;
  }

  static async open(options: ActiveTunnelOptions): Promise<ActiveTunnel> {
    const { name, config, journal, log } = options;
    const families = fullTunnelFamilies(config);
    const full = families.v4 || families.v6;
    const tunnel = await Tunnel.open({
      name,
      config,
      log,
      ...(options.resolve ? { resolve: options.resolve } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      // Every tunnel's socket is marked, a split one's too: the kill switch lets only packets with
      // the tunnel's mark reach its endpoints, so no other process can send there in clear.
      fwmark: config.interface.fwMark ?? FULL_TUNNEL_FWMARK,
    });
    try {
      if (full) {
        await enableFullTunnel(journal, {
          ifname: name,
          fwmark: tunnel.device.fwmark,
          families,
          addresses: config.interface.addresses,
        });
      }
      if (config.interface.dns.length + config.interface.dnsSearch.length > 0) {
        await applyDns(journal, name, { servers: config.interface.dns, search: config.interface.dnsSearch });
      }
    } catch (error) {
      await ActiveTunnel.undoNetwork(journal, name, log);
      await tunnel.close();
      throw error;
    }
    const holder: { active?: ActiveTunnel } = {};
    const connection = new Connection({
      device: tunnel.device,
      reresolve: () => tunnel.reresolveEndpoints(),
      log: (line) => log(`${name}: ${line}`),
      onChange: (status: ConnectionStatus) => {
        if (status.state === 'reconnecting' && holder.active) holder.active.reconnects++;
        if (holder.active) options.onStatus(holder.active.status());
      },
    });
    holder.active = new ActiveTunnel(options, tunnel, connection);
    return holder.active;
  }

  private static async undoNetwork(journal: NetworkJournal, name: string, log: (line: string) => void) {
    for (const step of [() => restoreDns(journal, name), () => disableFullTunnel(journal, name)]) {
      try {
        await step();
      } catch (error) {
        log(`${name}: restoring the network: ${(error as Error).message}`);
      }
    }
  }

  /** Takes the tunnel down and gives the system its DNS and routing back. */
  async close(log: (line: string) => void): Promise<void> {
    await ActiveTunnel.undoNetwork(this.journal, this.name, log);
    await this.tunnel.close();
  }

  status(): TunnelStatus {
    const connection = this.connection.current;
    const peers = [...this.tunnel.device.peers.values()];
    const snapshot = this.tunnel.device.snapshot();
    const peerStatus = snapshot.peers.map((peer) => ({
      publicKey: Buffer.from(peer.publicKey).toString('base64'),
      ...(peer.endpoint ? { endpoint: formatEndpoint(peer.endpoint) } : {}),
      allowedIps: peer.allowedIps.map(formatPrefix),
      ...(peer.lastHandshake ? { latestHandshake: peer.lastHandshake.sec * 1000 } : {}),
      rxBytes: Number(peer.rxBytes),
      txBytes: Number(peer.txBytes),
    }));
    const latest = Math.max(0, ...peers.map((peer) => peer.lastHandshakeWallMs));
    const main = peers.find((peer) => peer.endpoint);
    const { stats } = this.tunnel.device;
    return {
      name: this.name,
      state: connection.state,
      ...(connection.reason ? { reason: connection.reason } : {}),
      ...(connection.attempt ? { attempt: connection.attempt } : {}),
      ...(connection.nextRetrySeconds !== undefined ? { nextRetrySeconds: connection.nextRetrySeconds } : {}),
      since: connection.since,
      transport: this.tunnel.carriedBy(),
      interfaceAddresses: this.config.interface.addresses.map(formatPrefix),
      ...(main?.endpoint ? { endpoint: formatEndpoint(main.endpoint) } : {}),
      ...(latest > 0 ? { latestHandshake: latest } : {}),
      rxBytes: peerStatus.reduce((sum, peer) => sum + peer.rxBytes, 0),
      txBytes: peerStatus.reduce((sum, peer) => sum + peer.txBytes, 0),
      peers: peerStatus,
      counters: {
        handshakesCompleted: stats.handshakesCompleted,
        handshakeRetries: stats.handshakeRetries,
        reconnects: this.reconnects,
        dropped: Object.fromEntries(stats.droppedBy),
        upSince: this.upSince,
      },
    };
  }
}
