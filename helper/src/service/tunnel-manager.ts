// The service's tunnels: the stored ones, the ones that are up, and every control-API method that
// touches them. Private keys stay here; what leaves is public keys and status.

import { parseConfig } from '../../../shared/src/config/parse.ts';
import { serializeConfig } from '../../../shared/src/config/serialize.ts';
import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import {
  toPublicConfig,
  type Params,
  type Result,
  type Settings,
  type TunnelStatus,
  type TunnelSummary,
} from '../../../shared/src/control/protocol.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import {
  formatEndpoint,
  formatPrefix,
  maskedPrefix,
  parseIp,
  type IpPrefix,
} from '../../../shared/src/ip.ts';
import { decodeKey, encodeKey } from '../../../shared/src/keys.ts';
import { setKillSwitch } from '../net/killswitch.ts';
import type { NetworkJournal } from '../net/network-journal.ts';
import { checkRunnable } from '../tunnel/runner.ts';
import { generatePrivateKey, publicKeyOf } from '../wireguard/crypto.ts';
import { ActiveTunnel } from './active-tunnel.ts';
import type { TunnelStore } from './tunnel-store.ts';
import type { WantedTunnels } from './wanted-tunnels.ts';

export interface TunnelManagerOptions {
  store: TunnelStore;
  /** The tunnels the user wants up: connect adds, the user's disconnect removes, closeAll keeps. */
  wanted: WantedTunnels;
  journal: NetworkJournal;
  settings: () => Settings;
  log: (source: string, message: string) => void;
  onStatus: (status: TunnelStatus) => void;
  onTunnelsChanged: () => void;
}

function publicKeyFor(config: TunnelConfig): string {
  return encodeKey(publicKeyOf(decodeKey(config.interface.privateKey)!));
}

/** Whether two prefixes share any address (one contains the other). */
function overlaps(a: IpPrefix, b: IpPrefix): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.bits, b.bits);
  const shorter = { ...a, bits };
  return maskedPrefix(shorter).address === maskedPrefix({ ...b, bits }).address;
}

/** The config text without PrivateKey and PresharedKey lines: what may leave the helper. */
function withoutSecrets(text: string): string {
  return text.replace(/^(PrivateKey|PresharedKey) = .*\n/gm, '');
}

export class TunnelManager {
  private readonly options: TunnelManagerOptions;
  private readonly active = new Map<string, ActiveTunnel>();
  /** Tunnels being brought up or down, so two requests cannot race on one name. */
  private readonly busy = new Set<string>();
  /**
   * Set when a tunnel failed under the kill switch (or a crashed run left it on): traffic stays
   * blocked until the user disconnects, so a failure never turns into a leak.
   */
  failedClosed = false;
  private killSwitchEndpoints = '';

  constructor(options: TunnelManagerOptions) {
    this.options = options;
  }

  private log(message: string): void {
    this.options.log('tunnels', message);
  }

  async load(name: string): Promise<TunnelConfig> {
    return parseConfig(await this.options.store.read(name));
  }

  status(name: string): TunnelStatus {
    const active = this.active.get(name);
    if (active) return active.status();
    return { name, state: 'disconnected', interfaceAddresses: [], rxBytes: 0, txBytes: 0, peers: [] };
  }

  statuses(): TunnelStatus[] {
    return [...this.active.values()].map((tunnel) => tunnel.status());
  }

  activeTunnels(): ActiveTunnel[] {
    return [...this.active.values()];
  }

  private async summary(name: string): Promise<TunnelSummary> {
    const config = await this.load(name);
    return {
      name,
      publicKey: publicKeyFor(config),
      addresses: config.interface.addresses.map(formatPrefix),
      endpoints: config.peers.flatMap((peer) =>
        peer.endpoint ? [formatEndpoint({ address: peer.endpoint.host, port: peer.endpoint.port })] : [],
      ),
      state: this.status(name).state,
    };
  }

  async list(): Promise<TunnelSummary[]> {
    return Promise.all((await this.options.store.list()).map((name) => this.summary(name)));
  }

  async get({ name }: Params<'tunnels.get'>): Promise<Result<'tunnels.get'>> {
    const config = await this.load(name);
    return { config: toPublicConfig(config, publicKeyFor(config)), status: this.status(name) };
  }

  /** Parses and checks a config before it is stored: a bad one never reaches the disk. */
  private validate(name: string, text: string): string {
    const config = checkRunnable(name, parseConfig(text), true);
    return serializeConfig(config);
  }

  async import({ name, text }: Params<'tunnels.import'>): Promise<TunnelSummary> {
    if (await this.options.store.exists(name))
      throw new PhantomError('TUNNEL_EXISTS', `a tunnel named ${name} already exists`);
    await this.options.store.write(name, this.validate(name, text));
    this.log(`imported ${name}`);
    this.options.onTunnelsChanged();
    return this.summary(name);
  }

  async create({ name }: Params<'tunnels.create'>): Promise<TunnelSummary> {
    if (await this.options.store.exists(name))
      throw new PhantomError('TUNNEL_EXISTS', `a tunnel named ${name} already exists`);
    await this.options.store.write(name, `[Interface]\nPrivateKey = ${encodeKey(generatePrivateKey())}\n`);
    this.log(`created ${name} with a new key pair`);
    this.options.onTunnelsChanged();
    return this.summary(name);
  }

  async update({ name, text }: Params<'tunnels.update'>): Promise<TunnelSummary> {
    const stored = await this.load(name);
    // Clients never hold the private key, so an edited text comes without it: keep ours.
    const withKey = /^\s*PrivateKey\s*=/im.test(text)
      ? text
      : text.replace(
          /^\s*\[Interface\]\s*$/im,
          (line) => `${line}\nPrivateKey = ${stored.interface.privateKey}`,
        );
    await this.options.store.write(name, this.validate(name, withKey));
    this.log(`updated ${name}`);
    this.options.onTunnelsChanged();
    if (this.active.has(name)) {
      await this.takeDown([name]);
      await this.connect({ name });
    }
    return this.summary(name);
  }

  async rename({ name, newName }: Params<'tunnels.rename'>): Promise<TunnelSummary> {
    if (this.active.has(name))
      throw new PhantomError('TUNNEL_ACTIVE', `disconnect ${name} before renaming it`);
    await this.options.store.rename(name, newName);
    if (this.options.wanted.has(name)) {
      await this.options.wanted.remove([name]);
      await this.options.wanted.add(newName);
    }
    this.options.onTunnelsChanged();
    return this.summary(newName);
  }

  async delete({ name }: Params<'tunnels.delete'>): Promise<Result<'tunnels.delete'>> {
    if (this.active.has(name)) await this.disconnect({ name });
    else await this.options.wanted.remove([name]);
    await this.options.store.delete(name);
    this.log(`deleted ${name}`);
    this.options.onTunnelsChanged();
    return {};
  }

  async export(
    { name, includePrivateKey }: Params<'tunnels.export'>,
    callerIsRoot: boolean,
  ): Promise<Result<'tunnels.export'>> {
    const text = await this.options.store.read(name);
    if (!includePrivateKey) return { text: withoutSecrets(text) };
    if (!callerIsRoot)
      throw new PhantomError(
        'NOT_AUTHORIZED',
        'only root may export a private key (run the command with sudo)',
      );
    return { text };
  }

  /** Refuses a tunnel whose routes would fight with one that is up. */
  private checkClashes(name: string, config: TunnelConfig): void {
    const prefixes = (c: TunnelConfig) => c.peers.flatMap((peer) => peer.allowedIps);
    for (const other of this.active.values()) {
      for (const mine of prefixes(config)) {
        const theirs = prefixes(other.config).find((prefix) => overlaps(prefix, mine));
        if (theirs) {
          throw new PhantomError(
            'ROUTES_CLASH',
            `${name} cannot be up with ${other.name}: its AllowedIPs ${formatPrefix(mine)} overlaps ` +
              `${other.name}'s ${formatPrefix(theirs)}. Disconnect ${other.name} first.`,
          );
        }
      }
    }
  }

  async connect({ name }: Params<'tunnels.connect'>): Promise<TunnelStatus> {
    const existing = this.active.get(name);
    if (existing) return existing.status();
    if (this.busy.has(name)) throw new PhantomError('TUNNEL_BUSY', `${name} is already being connected`);
    this.busy.add(name);
    try {
      const config = checkRunnable(name, await this.load(name), true);
      this.checkClashes(name, config);
      this.log(`connecting ${name}`);
      const active = await ActiveTunnel.open({
        name,
        config,
        journal: this.options.journal,
        log: (line) => this.options.log(name, line),
        onStatus: this.options.onStatus,
      });
      this.active.set(name, active);
      void active.tunnel.closed.then((reason) => this.lost(active, reason));
      await this.options.wanted.add(name);
      await this.applyKillSwitch();
      const status = active.status();
      this.options.onStatus(status);
      return status;
    } finally {
      this.busy.delete(name);
    }
  }

  /** The user's disconnect: the tunnels go down and are no longer wanted after a restart. */
  async disconnect({ name }: Params<'tunnels.disconnect'>): Promise<Result<'tunnels.disconnect'>> {
    this.failedClosed = false;
    await this.options.wanted.remove(name ? [name] : undefined);
    await this.takeDown(name ? [name] : [...this.active.keys()]);
    await this.applyKillSwitch();
    return {};
  }

  private async takeDown(names: readonly string[]): Promise<void> {
    for (const each of names) {
      const active = this.active.get(each);
      if (!active) continue;
      this.active.delete(each);
      this.log(`disconnecting ${each}`);
      await active.close((line) => this.options.log(each, line));
      this.options.onStatus(this.status(each));
    }
  }

  /** The interface went away underneath us (deleted by someone): clean up and say so. */
  private async lost(active: ActiveTunnel, reason: string): Promise<void> {
    if (this.active.get(active.name) !== active) return;
    this.active.delete(active.name);
    this.failedClosed = this.options.settings().killSwitch;
    this.options.log(active.name, `the tunnel failed: ${reason}`);
    await active.close((line) => this.options.log(active.name, line));
    this.options.onStatus({
      ...this.status(active.name),
      state: 'error',
      reason: `The tunnel failed: ${reason}`,
    });
    await this.applyKillSwitch();
  }

  /**
   * The kill switch holds while any tunnel is up (connecting, connected or reconnecting); a user's
   * disconnect lifts it, because then the user chose to be off the VPN.
   */
  async applyKillSwitch(): Promise<void> {
    const settings = this.options.settings();
    // The endpoints the device uses now: no DNS lookups here, which the kill switch may be blocking.
    const tunnels = [...this.active.values()].map((active) => {
      const { device } = active.tunnel;
      return {
        ifname: active.name,
        endpoints: [...device.peers.values()].flatMap((peer) => (peer.endpoint ? [peer.endpoint] : [])),
        dns: active.config.interface.dns.filter((server) => parseIp(server) !== null),
        ...(device.fwmark ? { fwmark: device.fwmark } : {}),
      };
    });
    await setKillSwitch(this.options.journal, {
      enabled: settings.killSwitch && (tunnels.length > 0 || this.failedClosed),
      allowLan: settings.allowLan,
      tunnels,
    });
  }

  /** Once a second: connection checks, and tunnels whose interface vanished are taken down. */
  check(): void {
    for (const active of this.active.values()) active.connection.check();
    // A peer that roamed to a new address must stay reachable through the kill switch.
    const endpoints = this.activeTunnels()
      .flatMap((active) => [...active.tunnel.device.peers.values()].map((peer) => peer.endpoint))
      .map((endpoint) => (endpoint ? formatEndpoint(endpoint) : '-'))
      .join(',');
    if (endpoints !== this.killSwitchEndpoints && this.options.settings().killSwitch) {
      this.killSwitchEndpoints = endpoints;
      this.applyKillSwitch().catch((error: Error) => this.log(`kill switch: ${error.message}`));
    }
  }

  networkChanged(): void {
    for (const active of this.active.values()) active.connection.networkChanged();
  }

  /**
   * The helper is stopping: every tunnel goes down and the network is given back, but the tunnels
   * stay wanted, so the next run (a restart, an upgrade) brings them back up.
   */
  async closeAll(): Promise<void> {
    this.failedClosed = false;
    await this.takeDown([...this.active.keys()]);
    await this.applyKillSwitch();
  }

  /** At start-up: connects the tunnels the user had up, and the auto-connect one. */
  async resume(autoConnect: string | null): Promise<void> {
    const names = this.options.wanted.names();
    if (autoConnect && !names.includes(autoConnect)) names.push(autoConnect);
    for (const name of names) {
      if (!(await this.options.store.exists(name))) {
        await this.options.wanted.remove([name]);
        continue;
      }
      this.log(`bringing ${name} back up`);
      await this.connect({ name }).catch((error: Error) => {
        this.options.log('helper', `reconnecting ${name} after start-up: ${error.message}`);
      });
    }
  }
}
