// One running tunnel: TUN device, UDP socket, the WireGuard device between them, addresses, MTU,
// routes for AllowedIPs and the UAPI socket. Both the foreground runner and the helper service
// bring tunnels up through this class; what a full tunnel, DNS or the kill switch add on top is the
// service's business.

import { lookup } from 'node:dns/promises';
import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatPrefix, maskedPrefix, parseIp, type Endpoint, type IpPrefix } from '../../../shared/src/ip.ts';
import { decodeKey } from '../../../shared/src/keys.ts';
import { openBind, type Bind } from '../conn/bind.ts';
import { writerThreadStarted } from '../datapath/writer.ts';
import { netConfig } from '../net/net.ts';
import { openTun, type Tun } from '../tun/tun.ts';
import { serveUapi } from '../uapi/server.ts';
import type { DeviceChange } from '../uapi/types.ts';
import { DEFAULT_MTU } from '../wireguard/constants.ts';
import { Device } from '../wireguard/device.ts';

export interface TunnelOptions {
  name: string;
  config: TunnelConfig;
  log: (line: string) => void;
  /** SO_MARK for the UDP socket; overrides the file's FwMark (a full tunnel needs one). */
  fwmark?: number;
  /** Shortens the initiator's rekey age; for tests that watch a rekey happen. */
  rekeyAfterSeconds?: number;
}

export async function resolveEndpoint(host: string, port: number): Promise<Endpoint> {
  if (parseIp(host)) return { address: host, port, family: host.includes(':') ? 6 : 4 };
  try {
    const { address, family } = await lookup(host);
    return { address, port, family: family === 6 ? 6 : 4 };
  } catch (error) {
    throw new PhantomError(
      'ENDPOINT_UNRESOLVED',
      `cannot resolve endpoint ${host}: ${(error as Error).message}`,
    );
  }
}

async function deviceChangeFor(config: TunnelConfig): Promise<DeviceChange> {
  return {
    privateKey: decodeKey(config.interface.privateKey),
    replacePeers: true,
    peers: await Promise.all(
      config.peers.map(async (peer) => ({
        publicKey: decodeKey(peer.publicKey)!,
        remove: false,
        updateOnly: false,
        presharedKey: peer.presharedKey ? decodeKey(peer.presharedKey) : null,
        ...(peer.endpoint ? { endpoint: await resolveEndpoint(peer.endpoint.host, peer.endpoint.port) } : {}),
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

export class Tunnel {
  readonly name: string;
  readonly config: TunnelConfig;
  readonly device: Device;
  /** Resolves with a reason when the interface disappears underneath us. */
  readonly closed: Promise<string>;
  private readonly undo: Array<() => Promise<void> | void>;
  private readonly log: (line: string) => void;

  private constructor(
    fields: Pick<Tunnel, 'name' | 'config' | 'device' | 'closed'> & {
      undo: Tunnel['undo'];
      log: (line: string) => void;
    },
  ) {
    this.name = fields.name;
    this.config = fields.config;
    this.device = fields.device;
    this.closed = fields.closed;
    this.undo = fields.undo;
    this.log = fields.log;
  }

  /** Brings the tunnel up; on any failure, everything done so far is undone before it throws. */
  static async open(options: TunnelOptions): Promise<Tunnel> {
    const { name, config, log } = options;
    const mtu = config.interface.mtu ?? DEFAULT_MTU;
    const net = netConfig();
    const now = () => performance.now();
    const change = await deviceChangeFor(config);
    const undo: Array<() => Promise<void> | void> = [];
    try {
      const tun: Tun = openTun(name);
      undo.push(() => tun.close());

      let bind: Bind | null = null;
      const device = new Device({
        mtu,
        log: (line) => log(`${name}: ${line}`),
        ...(options.rekeyAfterSeconds ? { rekeyAfterTime: options.rekeyAfterSeconds * 1000 } : {}),
        io: {
          sendDatagram: (packet, to) => bind?.send(packet, to),
          writeTun: (packet) => {
            if (!tun.write(packet)) device.drop('tunWriteFailed');
          },
          setListenPort: async (port) => {
            if (bind && port === bind.port && port !== 0) return port;
            const next = await openBind({
              port,
              fwmark: device.fwmark,
              onDatagram: (packet, from) => device.receiveDatagram(packet, from, now()),
            });
            await bind?.close();
            bind = next;
            return next.port;
          },
          setFwmark: (mark) => bind?.setFwmark(mark),
        },
      });
      undo.push(() => device.close());
      undo.push(() => bind?.close());
      const fwmark = options.fwmark ?? config.interface.fwMark;
      if (fwmark !== undefined) change.fwmark = fwmark;
      change.listenPort = config.interface.listenPort ?? 0;
      await device.apply(change, now());

      for (const address of config.interface.addresses) await net.addAddress(name, address);
      await net.setLinkUp(name, mtu);
      // wg-quick's Table: 'off' adds no routes, a number or name puts them in that table.
      const table = config.interface.table;
      if (table !== 'off') {
        const inTable = table && table !== 'auto' ? table : undefined;
        for (const route of routesFor(config)) {
          await net.addRoute(name, route, inTable);
          undo.push(() => net.deleteRoute(name, route, inTable));
        }
      }

      const uapi = await serveUapi(name, device, { log });
      undo.push(() => uapi.close());

      tun.start(
        (packet) => device.sendPacket(packet, now()),
        (count) => device.stats.drop('tunWriteFailed', count),
      );
      const ticker = setInterval(() => device.tick(now()), 100);
      undo.push(() => clearInterval(ticker));
      await writerThreadStarted();
      device.up(now());
      log(`PhantomMesh tunnel ${name} is up (UDP port ${device.listenPort}, UAPI ${uapi.path})`);
      return new Tunnel({ name, config, device, closed: tun.closed, undo, log });
    } catch (error) {
      await runUndo(undo, log);
      throw error;
    }
  }

  /** Resolves the peers' endpoint host names again (a server's address may have moved). */
  async reresolveEndpoints(): Promise<void> {
    const now = performance.now();
    for (const peer of this.config.peers) {
      if (!peer.endpoint || parseIp(peer.endpoint.host)) continue;
      const endpoint = await resolveEndpoint(peer.endpoint.host, peer.endpoint.port);
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

  /** Takes the tunnel down and removes everything it added, newest first. */
  async close(): Promise<void> {
    await runUndo(this.undo.splice(0), this.log);
  }
}

async function runUndo(undo: Array<() => Promise<void> | void>, log: (line: string) => void): Promise<void> {
  for (const step of undo.reverse()) {
    try {
      await step();
    } catch (error) {
      log(`cleanup: ${(error as Error).message}`);
    }
  }
}
