// The service's tunnels: the stored ones, the ones that are up, and every control-API method that
// touches them. Private keys stay here; what leaves is public keys and status.

import { findOverlap } from './route-clash.ts';
import { parseConfig } from '../../../shared/src/config/parse.ts';
import { serializeConfig } from '../../../shared/src/config/serialize.ts';
import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import {
  toPublicConfig,
  type Params,
  type PublicTransport,
  type TransportSetting,
  type Result,
  type Settings,
  type TunnelStatus,
  type TunnelSummary,
} from '../../../shared/src/control/protocol.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatEndpoint, formatPrefix, parseIp } from '../../../shared/src/ip.ts';
import { decodeKey, encodeKey } from '../../../shared/src/keys.ts';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';
import type { Endpoint } from '../../../shared/src/ip.ts';
import {
  blockingRuleset,
  checkKillSwitch,
  readLocalNetworks,
  setKillSwitch,
  type LocalNetworks,
} from '../net/killswitch.ts';
import { resolveEndpoint } from '../tunnel/resolve-endpoint.ts';
import { rm } from 'node:fs/promises';
import type { NetworkJournal } from '../net/network-journal.ts';
import { checkRunnable } from '../tunnel/runnable-config.ts';
import { publicKeyOf } from '../wireguard/x25519.ts';
// The tunnel code (WireGuard, the data path, DNS and routes) loads with the first tunnel to open.
import type { ActiveTunnel } from './active-tunnel.ts';
import type { TunnelStore } from './tunnel-store.ts';
import { checkTransport, publicTransport, TransportStore, withKept } from './transport-store.ts';
import type { WantedTunnels } from './wanted-tunnels.ts';
import { EndpointPins } from './endpoint-pins.ts';
import {
  blockingStatus,
  decideFirewall,
  decideOnStop,
  mayResolveInClear,
  sameFirewall,
  type FirewallDecision,
  type KillSwitchInputs,
} from './kill-switch-state.ts';

export interface TunnelManagerOptions {
  store: TunnelStore;
  /** The tunnels the user wants up: connect adds, the user's disconnect removes, closeAll keeps. */
  wanted: WantedTunnels;
  journal: NetworkJournal;
  settings: () => Settings;
  log: (source: string, message: string) => void;
  onStatus: (status: TunnelStatus) => void;
  onTunnelsChanged: () => void;
  /** The addresses of endpoint names, used while traffic is blocked; none given: kept in memory. */
  pins?: EndpointPins;
  /** Where the blocking ruleset goes while lockdown is on, for the boot-time unit; none: not written. */
  lockdownFile?: string;
  /** Whether traffic is blocked, and why, each time that changes. */
  onBlocking?: (blocking: { reason: string } | null) => void;
  /** Another program removed or changed the kill switch and it was put back. */
  onFirewallRestored?: (reason: string) => void;
}

function publicKeyFor(config: TunnelConfig): string {
  return encodeKey(publicKeyOf(decodeKey(config.interface.privateKey)!));
}

/**
 * The config without PrivateKey and PresharedKey: what may leave the helper. Parsed and written
 * anew, never edited as text, so no spelling of a secret's line (CRLF, no spaces, no final newline)
 * slips through; a file that does not parse is not exported at all.
 */
function withoutSecrets(text: string): string {
  return serializeConfig(parseConfig(text), { secrets: false });
}

/** For logs: the transport without credentials or keys. */
function describeTransport(transport: TransportSetting): string {
  if (transport.kind === 'udp') return 'UDP';
  return `the relay ${transport.url}${transport.fallback ? ' (fallback after UDP)' : ''}${transport.proxy ? ' through a proxy' : ''}`;
}

/**
 * A relay carries one WireGuard server's datagrams (its `--to`), so a tunnel on a relay has exactly
 * one peer with an Endpoint; that peer's datagrams go to the relay instead.
 */
function checkTransportFits(name: string, config: TunnelConfig, transport: TransportSetting): void {
  if (transport.kind === 'udp') return;
  const withEndpoint = config.peers.filter((peer) => peer.endpoint);
  if (config.peers.length !== 1 || withEndpoint.length !== 1)
    throw new PhantomError(
      'TRANSPORT_INVALID',
      `${name} has ${config.peers.length} peers (${withEndpoint.length} with an Endpoint): a relay carries a tunnel with exactly one peer, the server behind the relay`,
    );
}

/** How many tunnels the store holds at most (each connect is checked against every one that is up). */
export const MAX_TUNNELS = 128;

export class TunnelManager {
  private readonly options: TunnelManagerOptions;
  private readonly active = new Map<string, ActiveTunnel>();
  /** Tunnels being brought up or down, so two requests cannot race on one name. */
  private readonly busy = new Set<string>();
  private readonly pins: EndpointPins;
  /** Each tunnel's transport, beside its file in the store. */
  private readonly transports: TransportStore;
  /** What the firewall was last set to (null: not yet this run), and the table as nft listed it then. */
  private applied: FirewallDecision | null = null;
  private appliedListing: string | undefined;
  private lastBlocking = 'unset';
  private lockdownWritten: string | null | undefined;
  /** Every firewall change and check, one after the other. */
  private firewallQueue: Promise<unknown> = Promise.resolve();
  private checking = false;
  /** Tunnels being brought up now, and whether the helper is stopping (no more may start). */
  private readonly opening = new Set<Promise<ActiveTunnel>>();
  private stopping = false;
  private local: LocalNetworks | undefined;

  constructor(options: TunnelManagerOptions) {
    this.options = options;
    this.pins = options.pins ?? EndpointPins.inMemory();
    this.transports = new TransportStore(options.store.dir);
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

  /** Refuses a new tunnel past MAX_TUNNELS: what one group member may make the root helper hold. */
  private async checkRoom(): Promise<void> {
    if ((await this.options.store.list()).length >= MAX_TUNNELS)
      throw new PhantomError(
        'TOO_MANY_TUNNELS',
        `the helper keeps at most ${MAX_TUNNELS} tunnels; delete one before adding another`,
      );
  }

  async import({ name, text }: Params<'tunnels.import'>): Promise<TunnelSummary> {
    if (await this.options.store.exists(name))
      throw new PhantomError('TUNNEL_EXISTS', `a tunnel named ${name} already exists`);
    await this.checkRoom();
    await this.options.store.write(name, this.validate(name, text));
    this.log(`imported ${name}`);
    this.options.onTunnelsChanged();
    return this.summary(name);
  }

  async create({ name }: Params<'tunnels.create'>): Promise<TunnelSummary> {
    if (await this.options.store.exists(name))
      throw new PhantomError('TUNNEL_EXISTS', `a tunnel named ${name} already exists`);
    await this.checkRoom();
    const { generatePrivateKey } = await import('../wireguard/crypto.ts');
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
    const validated = this.validate(name, withKey);
    const old = this.active.get(name);
    if (!old) {
      await this.options.store.write(name, validated);
      this.log(`updated ${name}`);
      this.options.onTunnelsChanged();
      return this.summary(name);
    }
    // The tunnel is up: the new configuration must be usable (routes, endpoints resolved, without a
    // lookup in clear while traffic is blocked) before the working tunnel goes down. Until then
    // nothing changes, and the kill switch holds throughout: the tunnel stays wanted.
    if (this.busy.has(name)) throw new PhantomError('TUNNEL_BUSY', `${name} is being connected or changed`);
    this.busy.add(name);
    try {
      const config = checkRunnable(name, parseConfig(validated), true);
      this.checkClashes(name, config, name);
      const resolved = await this.resolveAll(name, config);
      const previousText = await this.options.store.read(name);
      await this.options.store.write(name, validated);
      this.log(`updated ${name}; reconnecting it with the new configuration`);
      this.options.onTunnelsChanged();
      await this.takeDown([name]);
      try {
        await this.open(name, config, resolved);
      } catch (error) {
        this.log(`${name}: the new configuration did not come up (${(error as Error).message}); restoring`);
        await this.options.store.write(name, previousText);
        this.options.onTunnelsChanged();
        await this.open(name, old.config, await this.resolveAll(name, old.config)).catch((again: Error) =>
          this.log(`${name}: the previous configuration did not come back up either: ${again.message}`),
        );
        throw error;
      } finally {
        await this.applyKillSwitch();
      }
    } finally {
      this.busy.delete(name);
    }
    return this.summary(name);
  }

  async rename({ name, newName }: Params<'tunnels.rename'>): Promise<TunnelSummary> {
    if (this.active.has(name))
      throw new PhantomError('TUNNEL_ACTIVE', `disconnect ${name} before renaming it`);
    await this.options.store.rename(name, newName);
    await this.transports.rename(name, newName);
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
    await this.transports.delete(name);
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

  async getTransport({ name }: Params<'tunnels.transport.get'>): Promise<PublicTransport> {
    if (!(await this.options.store.exists(name)))
      throw new PhantomError('TUNNEL_NOT_FOUND', `there is no tunnel named ${name}`);
    return publicTransport(await this.transports.get(name));
  }

  /** Stores a tunnel's transport; a tunnel that is up is brought up again on it (still wanted throughout). */
  async setTransport({ name, transport: asked }: Params<'tunnels.transport.set'>): Promise<PublicTransport> {
    const config = await this.load(name);
    const previous = await this.transports.get(name).catch(() => ({ kind: 'udp' }) as const);
    const transport = withKept(asked, previous);
    checkTransportFits(name, config, checkTransport(transport));
    await this.transports.set(name, transport);
    this.log(`${name}: transport set to ${describeTransport(transport)}`);
    this.options.onTunnelsChanged();
    if (this.active.has(name) && !this.busy.has(name)) {
      this.busy.add(name);
      try {
        const resolved = await this.resolveAll(name, config);
        await this.takeDown([name]);
        await this.open(name, config, resolved).catch(async (error: Error) => {
          this.log(
            `${name}: did not come up over ${describeTransport(transport)} (${error.message}); restoring`,
          );
          await this.transports.set(name, previous);
          await this.open(name, config, resolved);
          throw error;
        });
      } finally {
        this.busy.delete(name);
        await this.applyKillSwitch();
      }
    }
    return publicTransport(transport);
  }

  /** Refuses a tunnel whose routes would fight with one that is up. */
  private checkClashes(name: string, config: TunnelConfig, except?: string): void {
    const prefixes = (c: TunnelConfig) => c.peers.flatMap((peer) => peer.allowedIps);
    for (const other of this.active.values()) {
      if (other.name === except) continue;
      const overlap = findOverlap(prefixes(config), prefixes(other.config));
      if (overlap) {
        const [mine, theirs] = overlap;
        throw new PhantomError(
          'ROUTES_CLASH',
          `${name} cannot be up with ${other.name}: its AllowedIPs ${formatPrefix(mine)} overlaps ` +
            `${other.name}'s ${formatPrefix(theirs)}. Disconnect ${other.name} first.`,
        );
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
      // Names are resolved before the tunnel is wanted, so before a kill switch starts blocking; once
      // it blocks, only pinned addresses (or a tunnel's DNS) are used.
      const resolved = await this.resolveAll(name, config);
      this.log(`connecting ${name}`);
      await this.options.wanted.add(name);
      await this.applyKillSwitch();
      let active: ActiveTunnel;
      try {
        active = await this.open(name, config, resolved);
      } catch (error) {
        // Under a kill switch the tunnel stays wanted, and traffic blocked, until the user disconnects;
        // a stop is not the user's doing either: the tunnel comes back with the next start.
        if (!this.options.settings().killSwitch && !this.stopping) await this.options.wanted.remove([name]);
        await this.applyKillSwitch();
        throw error;
      }
      await this.applyKillSwitch();
      const status = active.status();
      this.options.onStatus(status);
      return status;
    } finally {
      this.busy.delete(name);
    }
  }

  /** Brings `config` up as `name`, its endpoints taken from `resolved` (no lookups here). */
  private open(name: string, config: TunnelConfig, resolved: Map<string, Endpoint>): Promise<ActiveTunnel> {
    // A stop waits for tunnels still coming up (closeAll), so none is left half up behind it.
    if (this.stopping)
      return Promise.reject(
        new PhantomError('HELPER_STOPPING', `the helper is stopping; ${name} was not brought up`),
      );
    const opening = this.openNow(name, config, resolved);
    this.opening.add(opening);
    const settled = () => this.opening.delete(opening);
    opening.then(settled, settled);
    return opening;
  }

  private async openNow(
    name: string,
    config: TunnelConfig,
    resolved: Map<string, Endpoint>,
  ): Promise<ActiveTunnel> {
    const transport = await this.transports.get(name);
    checkTransportFits(name, config, transport);
    const { ActiveTunnel } = await import('./active-tunnel.ts');
    const active = await ActiveTunnel.open({
      name,
      config,
      transport,
      journal: this.options.journal,
      log: (line) => this.options.log(name, line),
      onStatus: this.options.onStatus,
      resolve: async (host, port) =>
        resolved.get(`${host}|${port}`) ?? (await this.resolveHost(name, host, port, true)),
    });
    this.active.set(name, active);
    void active.tunnel.closed.then((reason) => this.lost(active, reason));
    return active;
  }

  /** Every peer's endpoint of `config`, resolved now: an edit or a connect fails here, before any change. */
  private async resolveAll(name: string, config: TunnelConfig): Promise<Map<string, Endpoint>> {
    const resolved = new Map<string, Endpoint>();
    for (const peer of config.peers) {
      if (!peer.endpoint) continue;
      const { host, port } = peer.endpoint;
      resolved.set(`${host}|${port}`, await this.resolveHost(name, host, port, false));
    }
    return resolved;
  }

  /**
   * An endpoint's address. While nothing is blocked a name is looked up as usual and the answer
   * pinned. While traffic is blocked no lookup may leave in clear: the name is asked of the DNS
   * servers of tunnels that are up (the kill switch lets DNS out only through them), else the pinned
   * address is used; with neither it fails. `fresh`: a re-resolution, which prefers a new answer.
   */
  private async resolveHost(name: string, host: string, port: number, fresh: boolean): Promise<Endpoint> {
    if (parseIp(host)) return resolveEndpoint(host, port);
    if (mayResolveInClear(this.decision())) {
      const endpoint = await resolveEndpoint(host, port);
      await this.pins.set(host, { address: endpoint.address, family: endpoint.family });
      return endpoint;
    }
    const pinned = this.pins.get(host);
    if (pinned && !fresh) return { ...pinned, port };
    const throughTunnels = await this.resolveThroughTunnels(host);
    if (throughTunnels) {
      await this.pins.set(host, throughTunnels);
      return { ...throughTunnels, port };
    }
    if (pinned) return { ...pinned, port };
    throw new PhantomError(
      'ENDPOINT_UNRESOLVED',
      `cannot resolve endpoint ${host} of ${name}: traffic is blocked (${this.blocking()?.reason}), so ` +
        'PhantomMesh does not look names up outside a tunnel, and no address is known for it. Use an IP ' +
        'address in Endpoint, or connect once with the kill switch off.',
    );
  }

  /** Asks the DNS servers of the tunnels that are up (their queries may only leave through them). */
  private async resolveThroughTunnels(host: string): Promise<{ address: string; family: 4 | 6 } | null> {
    const servers = this.activeTunnels().flatMap((active) =>
      active.config.interface.dns.filter((server) => parseIp(server) !== null),
    );
    if (servers.length === 0) return null;
    const { Resolver } = process.getBuiltinModule('node:dns/promises');
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers(servers);
    for (const [query, family] of [
      [() => resolver.resolve4(host), 4],
      [() => resolver.resolve6(host), 6],
    ] as const) {
      try {
        const addresses = await query();
        if (addresses[0]) return { address: addresses[0], family };
      } catch {
        // Try the other family, then give up.
      }
    }
    return null;
  }

  /** The user's disconnect: the tunnels go down and are no longer wanted after a restart. */
  async disconnect({ name }: Params<'tunnels.disconnect'>): Promise<Result<'tunnels.disconnect'>> {
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
    this.options.log(active.name, `the tunnel failed: ${reason}`);
    await active.close((line) => this.options.log(active.name, line));
    this.options.onStatus({
      ...this.status(active.name),
      state: 'error',
      reason: `The tunnel failed: ${reason}`,
    });
    await this.applyKillSwitch();
  }

  /** What the firewall should be now: the kill-switch state machine fed with the intent and the tunnels. */
  decision(): FirewallDecision {
    return decideFirewall({
      ...this.intent(),
      up: this.activeTunnels().map((active) => {
        const { device } = active.tunnel;
        return {
          ifname: active.name,
          state: active.connection.current.state,
          // The endpoints the device uses now: no DNS lookups here, which the firewall may be blocking.
          endpoints: active.tunnel.firewallEndpoints(),
          dns: active.config.interface.dns.filter((server) => parseIp(server) !== null),
          fwmark: device.fwmark,
          fullTunnel: active.config.peers.some((peer) => peer.allowedIps.some((prefix) => prefix.bits === 0)),
        };
      }),
    });
  }

  /** What the state machine is fed besides the tunnels that are up: the user's intent and the LAN. */
  private intent(): Omit<KillSwitchInputs, 'up'> {
    const { killSwitch, allowLan, lockdown } = this.options.settings();
    return {
      settings: { killSwitch, allowLan, lockdown },
      wanted: this.options.wanted.names(),
      ...(this.local ? { local: this.local } : {}),
    };
  }

  /** For `status`: whether traffic is blocked and why. */
  blocking(): { reason: string } | null {
    return blockingStatus(this.decision());
  }

  private firewall<T>(task: () => Promise<T>): Promise<T> {
    const result = this.firewallQueue.then(task);
    this.firewallQueue = result.catch(() => undefined);
    return result;
  }

  /** Sets the firewall to what the state machine decides (one nft transaction), and the lockdown file. */
  applyKillSwitch(decision?: FirewallDecision): Promise<void> {
    return this.firewall(async () => {
      let next = decision ?? this.decision();
      // The LAN and DHCP exceptions need the local networks: read them once something blocks.
      if (!this.local && next.state === 'blocking') {
        await this.readLocal();
        next = decision ?? this.decision();
      }
      await this.writeLockdownFile();
      if (!this.applied || !sameFirewall(this.applied, next)) {
        await this.setFirewall(next);
      }
      this.reportBlocking(next);
    });
  }

  private async setFirewall(next: FirewallDecision): Promise<void> {
    if (next.state === 'off') {
      await setKillSwitch(this.options.journal, { enabled: false, allowLan: false, tunnels: [] });
      this.appliedListing = undefined;
    } else {
      await setKillSwitch(this.options.journal, {
        enabled: true,
        allowLan: next.allowLan,
        ...(next.local ? { local: next.local } : {}),
        tunnels: next.tunnels,
      });
      this.appliedListing = (await checkKillSwitch(this.options.journal)).listing ?? undefined;
    }
    if (this.applied?.state !== next.state)
      this.log(next.state === 'off' ? 'traffic is no longer blocked' : `blocking traffic (${next.reason})`);
    this.applied = next;
  }

  private reportBlocking(decision: FirewallDecision): void {
    const blocking = blockingStatus(decision);
    const key = JSON.stringify(blocking);
    if (key === this.lastBlocking) return;
    this.lastBlocking = key;
    this.options.onBlocking?.(blocking);
  }

  /** While lockdown is on, the blocking ruleset in a root-only file the boot-time unit loads. */
  private async writeLockdownFile(): Promise<void> {
    const path = this.options.lockdownFile;
    if (!path) return;
    const settings = this.options.settings();
    const content = settings.lockdown ? blockingRuleset(settings.allowLan) : null;
    if (content === this.lockdownWritten) return;
    if (content === null) await rm(path, { force: true });
    else await writeFileAtomic(path, content, { mode: 0o600 });
    this.lockdownWritten = content;
  }

  /**
   * Once a second: is the blocking table still there as applied? Another program (`nft flush
   * ruleset`, a firewall manager reloading) may have removed or changed it: put it back at once.
   */
  checkFirewall(): Promise<void> {
    if (this.checking || !this.applied || this.applied.state === 'off') return Promise.resolve();
    this.checking = true;
    return this.firewall(async () => {
      const applied = this.applied;
      if (!applied || applied.state === 'off') return;
      const check = await checkKillSwitch(this.options.journal, this.appliedListing);
      if (check.status === 'intact') return;
      const reason =
        check.status === 'missing'
          ? 'another program removed the kill switch'
          : 'another program changed the kill switch';
      this.options.log('helper', `${reason}; restoring it`);
      await this.setFirewall(applied);
      this.options.onFirewallRestored?.(reason);
    }).finally(() => {
      this.checking = false;
    });
  }

  /** Once a second: connection checks, and the firewall follows endpoints that moved and tunnel states. */
  check(): void {
    for (const active of this.active.values()) active.connection.check();
    this.applyKillSwitch().catch((error: Error) => this.log(`kill switch: ${error.message}`));
  }

  /** The machine's local networks, for the kill switch's LAN and DHCP exceptions. */
  private async readLocal(): Promise<void> {
    try {
      this.local = await readLocalNetworks(this.activeTunnels().map((active) => active.name));
    } catch (error) {
      this.log(`kill switch: cannot read the local networks: ${(error as Error).message}`);
    }
  }

  networkChanged(): void {
    // The next check applies the firewall with the addresses as they are now.
    this.firewall(() => this.readLocal()).catch(() => undefined);
    for (const active of this.active.values()) {
      active.connection.networkChanged();
      active.tunnel.networkChanged();
    }
  }

  /**
   * The helper is stopping: every tunnel goes down and its routes and DNS are given back, but the
   * tunnels stay wanted, so the next run (a restart, an upgrade) brings them back up. A blocking
   * firewall stays in place (and in the journal) while no helper runs; the next run takes it over. One
   * that is off stays off: then the stop leaves nothing behind.
   */
  async closeAll(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.opening]);
    // The local networks go with it, so the table left behind keeps the LAN and DHCP exceptions.
    const onStop = decideOnStop(this.intent());
    // Blocking without the tunnels' exceptions before they go down: no moment where a tunnel's
    // traffic could fall back to the physical link.
    if (onStop.state === 'blocking') await this.applyKillSwitch(onStop);
    await this.takeDown([...this.active.keys()]);
    await this.applyKillSwitch(onStop);
    if (onStop.state === 'blocking') this.log(`stopping with traffic blocked (${onStop.reason})`);
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
