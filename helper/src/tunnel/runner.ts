// Runs one tunnel in the foreground, like `wg-quick up` plus a userspace WireGuard: TUN, UDP
// socket, addresses, MTU, routes for AllowedIPs and the UAPI socket, until a signal or the link's
// deletion, then removes everything it added.

import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseConfig } from '../../../shared/src/config/parse.ts';
import { hasScriptHooks, type TunnelConfig } from '../../../shared/src/config/types.ts';
import { ConfigError, PhantomError } from '../../../shared/src/errors.ts';
import { formatPrefix, maskedPrefix, parseIp, type Endpoint, type IpPrefix } from '../../../shared/src/ip.ts';
import { decodeKey } from '../../../shared/src/keys.ts';
import { openBind, type Bind } from '../conn/bind.ts';
import { netConfig } from '../net/net.ts';
import { openTun } from '../tun/tun.ts';
import { serveUapi } from '../uapi/server.ts';
import type { DeviceChange } from '../uapi/types.ts';
import { DEFAULT_MTU } from '../wireguard/constants.ts';
import { Device } from '../wireguard/device.ts';

/** wg-quick's rule: the interface is the file's name without `.conf`. */
const INTERFACE_NAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;

export interface RunOptions {
  log: (line: string) => void;
  /** Shortens the initiator's rekey age; for tests that watch a rekey happen. */
  rekeyAfterSeconds?: number;
  /** Resolves when the runner should stop (signals, by default). */
  stop?: Promise<string>;
}

export function interfaceNameFor(path: string): string {
  const name = basename(path).replace(/\.conf$/, '');
  if (!INTERFACE_NAME.test(name)) {
    throw new PhantomError(
      'INTERFACE_NAME_INVALID',
      `"${name}" is not a valid interface name: the file name without .conf must be 1-15 characters of ` +
        'letters, digits and _=+.-',
    );
  }
  return name;
}

export async function loadTunnelFile(path: string): Promise<TunnelConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PhantomError('CONFIG_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`);
  }
  let config: TunnelConfig;
  try {
    config = parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) throw new PhantomError(error.code, `${path}: ${error.message}`);
    throw error;
  }
  if (hasScriptHooks(config)) {
    throw new PhantomError(
      'SCRIPT_HOOKS_REFUSED',
      `${path}: PreUp/PostUp/PreDown/PostDown are refused: the helper runs as root and never runs a ` +
        "config's shell commands. Remove them and run such commands yourself.",
    );
  }
  for (const peer of config.peers) {
    const defaultRoute = peer.allowedIps.find((prefix) => prefix.bits === 0);
    if (defaultRoute) {
      throw new PhantomError(
        'FULL_TUNNEL_UNSUPPORTED',
        `${path}: AllowedIPs ${formatPrefix(defaultRoute)} would route all traffic through the tunnel; ` +
          'full tunnels need the helper service (loop-free policy routing) and are refused by the ' +
          'foreground runner. Use specific prefixes instead.',
      );
    }
  }
  return config;
}

async function resolveEndpoint(host: string, port: number): Promise<Endpoint> {
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

/** Routes for every AllowedIP, except those the interface's own addresses already route. */
function routesFor(config: TunnelConfig): IpPrefix[] {
  const connected = new Set(config.interface.addresses.map((a) => formatPrefix(maskedPrefix(a))));
  const routes = new Map<string, IpPrefix>();
  for (const peer of config.peers) {
    for (const prefix of peer.allowedIps) {
      const network = maskedPrefix(prefix);
      if (!connected.has(formatPrefix(network))) routes.set(formatPrefix(network), network);
    }
  }
  return [...routes.values()];
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => resolve(`received ${signal}`));
  });
}

export async function runTunnel(path: string, options: RunOptions): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new PhantomError(
      'NOT_ROOT',
      'phantommesh-helper must run as root: it creates a TUN device and changes routes (try sudo)',
    );
  }
  const name = interfaceNameFor(path);
  const config = await loadTunnelFile(path);
  const change = await deviceChangeFor(config);
  const mtu = config.interface.mtu ?? DEFAULT_MTU;
  const net = netConfig();
  const { log } = options;
  const now = () => performance.now();
  const stop = options.stop ?? signalled();

  // Undo steps, newest first, so a failure half-way leaves nothing behind.
  const undo: Array<() => Promise<void> | void> = [];
  const cleanUp = async () => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${(error as Error).message}`);
      }
    }
  };

  try {
    const tun = openTun(name);
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
    if (config.interface.fwMark !== undefined) change.fwmark = config.interface.fwMark;
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
    if (config.interface.dns.length + config.interface.dnsSearch.length > 0)
      log(`${name}: DNS is not applied by the foreground runner (the helper service applies it)`);
    if (config.interface.saveConfig) log(`${name}: SaveConfig is ignored: the file is never rewritten`);

    const uapi = await serveUapi(name, device, { log });
    undo.push(() => uapi.close());

    tun.start((packet) => device.sendPacket(packet, now()));
    const ticker = setInterval(() => device.tick(now()), 100);
    undo.push(() => clearInterval(ticker));
    device.up(now());
    log(`PhantomMesh tunnel ${name} is up (UDP port ${device.listenPort}, UAPI ${uapi.path})`);

    const reason = await Promise.race([stop, tun.closed.then((why) => `interface went away: ${why}`)]);
    log(`PhantomMesh tunnel ${name} is going down: ${reason}`);
  } finally {
    await cleanUp();
  }
}
