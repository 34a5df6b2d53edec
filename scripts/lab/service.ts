// The helper service for tests: `phantommesh-helper serve` in namespace A with its own state dir,
// control socket and a private /etc/resolv.conf (ip netns exec bind-mounts /etc/netns/NS/*), and a
// control-API client connected to it.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectHelper, type HelperClient } from '../../shared/src/control/client.ts';
import type { TunnelStatus } from '../../shared/src/control/protocol.ts';
import { execIn, removeOnCleanup, spawnIn, type Spawned } from './netns.ts';
import { RUNNER } from './tunnel-pair.ts';

export const ORIGINAL_RESOLV_CONF =
  "# the namespace's own resolver\nnameserver 198.51.100.53\nsearch example.test\n";

export interface Service {
  ns: string;
  dir: string;
  socketPath: string;
  resolvConfPath: string;
  process: Spawned;
  client: HelperClient;
  /** Kills -9 (a crash) or stops (SIGTERM) the helper; the state dir stays. */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts the helper again on the same state dir and reconnects the client. */
  restart(): Promise<void>;
  /** Resolves with the first status of `name` that `accept` accepts. */
  waitForStatus(
    name: string,
    accept: (status: TunnelStatus) => boolean,
    timeoutMs: number,
  ): Promise<TunnelStatus>;
  destroy(): Promise<void>;
}

export interface ServiceOptions {
  /** Node flags before the helper's entry point (e.g. --import of a module that reports on it). */
  nodeArgs?: string[];
  /** Extra environment for the helper. */
  env?: Record<string, string>;
}

export async function startService(ns: string, options: ServiceOptions = {}): Promise<Service> {
  const dir = await mkdtemp(join(tmpdir(), 'pm-service-'));
  removeOnCleanup(ns, dir);
  const netnsEtc = `/etc/netns/${ns}`;
  await mkdir(netnsEtc, { recursive: true });
  removeOnCleanup(ns, netnsEtc);
  const resolvConfPath = join(netnsEtc, 'resolv.conf');
  await writeFile(resolvConfPath, ORIGINAL_RESOLV_CONF);
  const socketPath = join(dir, 'helper.sock');

  const launch = async () => {
    const process_ = spawnIn(
      ns,
      process.execPath,
      [
        ...(options.nodeArgs ?? []),
        RUNNER,
        'serve',
        '--socket',
        socketPath,
        '--state-dir',
        join(dir, 'state'),
      ],
      { env: { ...process.env, ...options.env } },
    );
    await process_.waitForLine(/is ready/, 15_000);
    const client = await connectHelper({ socketPath, client: 'phantommesh-tests' });
    return { process_, client };
  };

  let { process_, client } = await launch();
  const service: Service = {
    ns,
    dir,
    socketPath,
    resolvConfPath,
    get process() {
      return process_;
    },
    get client() {
      return client;
    },
    async kill(signal) {
      client.close();
      process_.child.kill(signal);
      await process_.exited;
    },
    async restart() {
      ({ process_, client } = await launch());
    },
    async waitForStatus(name, accept, timeoutMs) {
      await client.call('events.subscribe', {});
      const now = (await client.call('status', {})).tunnels.find((t) => t.name === name);
      if (now && accept(now)) return now;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`no matching status for ${name} within ${timeoutMs} ms`));
        }, timeoutMs);
        const stop = client.onEvent((event) => {
          const statuses =
            event.type === 'tunnel-state' ? [event.status] : event.type === 'stats' ? event.tunnels : [];
          const match = statuses.find((status) => status.name === name && accept(status));
          if (match) {
            clearTimeout(timer);
            stop();
            resolve(match);
          }
        });
      });
    },
    async destroy() {
      client.close();
      await process_.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return service;
}

/** What the service may change on the system, to compare before and after. */
export async function networkSnapshot(service: Service): Promise<string> {
  const ns = service.ns;
  const parts = await Promise.all([
    execIn(ns, 'ip', ['-4', 'rule']),
    execIn(ns, 'ip', ['-6', 'rule']),
    execIn(ns, 'ip', ['-4', 'route', 'show', 'table', 'all']),
    execIn(ns, 'ip', ['-6', 'route', 'show', 'table', 'all']),
    execIn(ns, 'nft', ['list', 'ruleset']),
    execIn(ns, 'sysctl', ['net.ipv4.conf.all.src_valid_mark']),
    readFile(service.resolvConfPath, 'utf8'),
  ]);
  return parts.join('\n----\n');
}
