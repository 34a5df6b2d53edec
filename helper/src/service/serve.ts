// `phantommesh-helper serve`: the privileged helper service. It undoes what a crashed run left,
// loads the stored tunnels and settings, serves the control API to root and the phantommesh group,
// and on SIGTERM takes every tunnel down and gives the system its network back, except a blocking
// kill switch or lockdown, which stays in force until the next run takes it over.

import { isPrivileged } from '../privileges.ts';
import { checkStateDir } from './paths.ts';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Handlers } from '../control/server.ts';
import { serveControl } from '../control/server.ts';
import type { HelperEvent } from '../../../shared/src/control/protocol.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { NetworkJournal } from '../net/network-journal.ts';
import { HelperLog } from './log.ts';
import { serveMetrics, type MetricsServer, type TunnelMetrics } from './metrics.ts';
import { watchNetwork } from './network-watch.ts';
import { CONTROL_GROUP } from '../../../shared/src/control/socket-path.ts';
import { sdNotify } from './sd-notify.ts';
import { EndpointPins } from './endpoint-pins.ts';
import { SettingsStore } from './settings-store.ts';
import { TunnelStore } from './tunnel-store.ts';
import { TunnelManager } from './tunnel-manager.ts';
import { releaseFreedMemorySoon } from './memory-release.ts';
import { WantedTunnels } from './wanted-tunnels.ts';
import { HELPER_VERSION } from './version.ts';

/** In the state dir while lockdown is on: the blocking ruleset phantommesh-lockdown.service loads at boot. */
export const LOCKDOWN_FILE = 'lockdown.nft';

export interface ServeOptions {
  socketPath: string;
  stateDir: string;
  group?: string;
  /** Resolves when the service should stop (SIGINT/SIGTERM by default). */
  stop?: Promise<string>;
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
}

const run = promisify(execFile);
async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { timeout: 5000 })).stdout.trimEnd();
  } catch (error) {
    return `(${command} ${args.join(' ')} failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

export async function serve(options: ServeOptions): Promise<void> {
  if (!isPrivileged()) {
    throw new PhantomError(
      'NOT_ROOT',
      'the helper service must run as root (it owns TUN devices and routes)',
    );
  }
  const stop = options.stop ?? signalled();
  const log = new HelperLog();
  const say = (source: string, message: string) => log.add('info', source, message);

  await checkStateDir(options.stateDir);
  const journal = await NetworkJournal.open(join(options.stateDir, 'network-journal.json'));
  const recovery = await journal.recover();
  if (recovery.undone > 0) say('helper', `undid ${recovery.undone} network changes left by a previous run`);
  for (const failure of recovery.failures) log.add('warn', 'helper', `could not undo: ${failure}`);
  if (recovery.killSwitchKept)
    log.add(
      'warn',
      'helper',
      'traffic was blocked when the previous run stopped: taking the kill switch over',
    );

  const store = await TunnelStore.open(join(options.stateDir, 'tunnels'), {
    log: (line) => say('store', line),
  });
  const settings = await SettingsStore.open(options.stateDir, { log: (line) => say('settings', line) });
  const wanted = await WantedTunnels.open(options.stateDir, (line) => say('helper', line));
  const pins = await EndpointPins.open(options.stateDir, (line) => say('helper', line));

  // The manager reports through the control server, which is started after it.
  const events: { broadcast: (event: HelperEvent) => void } = { broadcast: () => {} };
  const broadcast = (event: HelperEvent) => events.broadcast(event);
  const manager = new TunnelManager({
    store,
    wanted,
    journal,
    settings: () => settings.get(),
    log: say,
    onStatus: (status) => {
      broadcast({ type: 'tunnel-state', status });
      // A tunnel came up or went down: what it allocated on the way is freed by now or soon.
      if (status.state === 'connected' || status.state === 'disconnected') releaseFreedMemorySoon();
    },
    onTunnelsChanged: () => broadcast({ type: 'tunnels-changed' }),
    pins,
    lockdownFile: join(options.stateDir, LOCKDOWN_FILE),
    onBlocking: (blocking) => broadcast({ type: 'blocking', blocking }),
    onFirewallRestored: (reason) => {
      log.add('warn', 'helper', `${reason}; PhantomMesh restored it`);
      broadcast({ type: 'firewall-restored', reason });
    },
  });

  const metrics: { server: MetricsServer | null } = { server: null };
  const collectMetrics = (): TunnelMetrics[] =>
    manager.statuses().map((status) => ({
      name: status.name,
      connected: status.state === 'connected',
      upSince: status.counters?.upSince,
      handshakesCompleted: status.counters?.handshakesCompleted ?? 0,
      handshakeRetries: status.counters?.handshakeRetries ?? 0,
      reconnects: status.counters?.reconnects ?? 0,
      rxBytes: BigInt(status.rxBytes),
      txBytes: BigInt(status.txBytes),
      dropped: new Map(Object.entries(status.counters?.dropped ?? {})),
    }));
  /** Serves metrics on `port` (or stops); the old server goes only once the new one listens. */
  const applyMetricsPort = async (port: number | null) => {
    if (metrics.server?.port === port) return;
    let next: MetricsServer | null = null;
    if (port !== null) {
      try {
        next = await serveMetrics(port, collectMetrics);
      } catch (error) {
        throw new PhantomError(
          'METRICS_PORT_UNAVAILABLE',
          `metrics cannot listen on 127.0.0.1:${port}: ${(error as Error).message}`,
        );
      }
    }
    await metrics.server?.close();
    metrics.server = next;
    if (next) say('helper', `Prometheus metrics on http://127.0.0.1:${next.port}/metrics`);
  };

  const diagnostics = async (): Promise<string> => {
    const sections: Array<[string, string]> = [
      [
        'versions',
        `helper ${HELPER_VERSION}, node ${process.version}, linux ${release()}, host ${hostname()}`,
      ],
      ['settings', JSON.stringify(settings.get(), null, 2)],
      ['status', JSON.stringify(manager.statuses(), null, 2)],
    ];
    for (const name of await store.list()) {
      const exported = await manager.export({ name }, false);
      sections.push([`tunnel ${name} (secrets removed)`, exported.text.trimEnd()]);
    }
    sections.push(
      ['ip rule', await commandOutput('/usr/sbin/ip', ['rule'])],
      ['ip -6 rule', await commandOutput('/usr/sbin/ip', ['-6', 'rule'])],
      ['routes', await commandOutput('/usr/sbin/ip', ['route', 'show', 'table', 'all'])],
      [
        'firewall (our table)',
        await commandOutput('/usr/sbin/nft', ['list', 'table', 'inet', 'phantommesh']),
      ],
      ['/etc/resolv.conf', await readFile('/etc/resolv.conf', 'utf8').catch((e: Error) => `(${e.message})`)],
      ['network journal', JSON.stringify(journal.changes, null, 2)],
      [
        'recent log',
        log
          .tail(200)
          .map((l) => `${new Date(l.time).toISOString()} ${l.level} ${l.source}: ${l.message}`)
          .join('\n'),
      ],
    );
    return sections.map(([title, body]) => `== ${title} ==\n${body}\n`).join('\n');
  };

  const handlers: Handlers = {
    'tunnels.list': () => manager.list(),
    'tunnels.get': (params) => manager.get(params),
    'tunnels.import': (params) => manager.import(params),
    'tunnels.create': (params) => manager.create(params),
    'tunnels.update': (params) => manager.update(params),
    'tunnels.rename': (params) => manager.rename(params),
    'tunnels.delete': (params) => manager.delete(params),
    'tunnels.export': (params, caller) => manager.export(params, caller.isRoot),
    'tunnels.connect': (params) => manager.connect(params),
    'tunnels.disconnect': (params) => manager.disconnect(params),
    'tunnels.transport.get': (params) => manager.getTransport(params),
    'tunnels.transport.set': (params) => manager.setTransport(params),
    status: async () => ({
      tunnels: manager.statuses(),
      settings: settings.get(),
      blocking: manager.blocking(),
    }),
    'settings.get': async () => settings.get(),
    'settings.set': async (changes) => {
      // A port is tried before it is saved: a taken one is refused and the settings stay as they were.
      if (changes.metricsPort !== undefined) await applyMetricsPort(changes.metricsPort);
      const updated = await settings.update(changes);
      await manager.applyKillSwitch();
      broadcast({ type: 'settings', settings: updated });
      return updated;
    },
    'logs.tail': async ({ lines }) => log.tail(lines ?? 100),
    diagnostics: async () => ({ text: await diagnostics() }),
  };

  const server = await serveControl({
    socketPath: options.socketPath,
    group: options.group ?? CONTROL_GROUP,
    handlers,
    log: (line) => say('control', line),
    helperVersion: HELPER_VERSION,
  });
  events.broadcast = (event) => server.broadcast(event);
  const unsubscribeLog = log.subscribe((line) => server.broadcast({ type: 'log', line }));

  await manager.applyKillSwitch();
  // Metrics are optional: a port someone else took (any local user can) must not stop the helper.
  await applyMetricsPort(settings.get().metricsPort).catch((error: Error) =>
    log.add('warn', 'helper', `${error.message}; metrics are off until the port is free or changed`),
  );
  const ticker = setInterval(() => {
    manager.check();
    void manager
      .checkFirewall()
      .catch((error: Error) =>
        log.add('error', 'helper', `could not restore the kill switch: ${error.message}`),
      );
    const tunnels = manager.statuses();
    if (tunnels.length > 0) server.broadcast({ type: 'stats', tunnels });
  }, 1000);
  const network = watchNetwork(
    () => manager.networkChanged(),
    () => manager.activeTunnels().map((active) => active.name),
  );
  // In the background: READY must not wait for handshakes.
  void manager.resume(settings.get().autoConnect);

  say('helper', `PhantomMesh helper ${HELPER_VERSION} is ready on ${server.path}`);
  sdNotify('READY=1');
  releaseFreedMemorySoon();
  // No warm-up here: the first tunnel's interface runs it (wireguard-interface.ts) before its device
  // comes up, ~20 ms on the first connect, so a helper with no tunnel does not carry the compiled
  // handshake and data path all day (2-3 MB of RSS).
  const reason = await stop;
  sdNotify('STOPPING=1');
  say('helper', `stopping (${reason}): taking tunnels down and restoring the network`);
  clearInterval(ticker);
  network.stop();
  unsubscribeLog();
  await server.close();
  await manager.closeAll();
  await metrics.server?.close();
}
